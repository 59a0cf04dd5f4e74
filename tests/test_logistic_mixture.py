"""The discretised logistic mixture likelihood (PixelCNN++): a proper probability mass over 8-bit pixels, grey
and RGB (channels coupled), stable at the edges, reproducible samples; the VAE families use it at 32×32×3."""

from __future__ import annotations

import pytest
import torch

from latentforge.errors import ConfigError
from latentforge.models import build_model
from latentforge.nn.likelihoods import LogisticMixture, get_likelihood

LEVELS = torch.arange(256, dtype=torch.float64) / 255


def random_params(likelihood: LogisticMixture, channels: int, n: int = 1, size: int = 1, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, likelihood.param_channels(channels), size, size, generator=g, dtype=torch.float64)


def test_grey_masses_over_all_levels_sum_to_one():
    mix = LogisticMixture(components=4)
    params = random_params(mix, 1)
    x = LEVELS.view(256, 1, 1, 1)
    total = torch.logsumexp(mix.log_prob(params.expand(256, -1, -1, -1), x), 0).exp()
    assert total.item() == pytest.approx(1.0, abs=1e-9)


def test_rgb_masses_sum_to_the_red_marginal_and_it_to_one():
    """Σ over all 65,536 (green, blue) of p(r, g, b) is the mixture's marginal of red, Σ_k π_k p_k(r), at several r;
    and that marginal sums to one over the 256 reds: together, the joint over 256³ colours sums to one."""
    mix = LogisticMixture(components=3)
    params = random_params(mix, 3, seed=1) * 2
    logits, loc, log_scale, _ = mix._split(params, 3)
    log_weights = torch.log_softmax(logits, 1)[0, :, 0, 0]
    reds = LEVELS.view(256, 1)
    red_marginal = torch.logsumexp(log_weights + mix._logistic.log_mass(
        loc[0, :, 0, 0, 0], log_scale[0, :, 0, 0, 0], reds * 2 - 1), 1)  # 256
    assert red_marginal.exp().sum().item() == pytest.approx(1.0, abs=1e-9)
    g, b = torch.meshgrid(LEVELS, LEVELS, indexing="ij")
    plane = torch.stack([torch.zeros_like(g), g, b]).reshape(3, -1).T.reshape(-1, 3, 1, 1)
    expanded = params.expand(plane.shape[0], -1, -1, -1)
    for level in (0, 37, 128, 200, 255):
        plane[:, 0] = level / 255
        total = torch.logsumexp(mix.log_prob(expanded, plane), 0)
        assert total.item() == pytest.approx(red_marginal[level].item(), abs=1e-7)


def test_channels_are_coupled():
    """Blue's probability depends on red through the coupling coefficients (it would not for independent channels)."""
    mix = LogisticMixture(components=1)
    params = torch.zeros(1, mix.param_channels(3), 1, 1)
    # one component: logit, locations r g b, log-scales r g b, coefficients (g on r, b on r, b on g)
    params[:, 1 + 6 + 1] = 3.0  # large coefficient of red in blue's mean
    params[:, 4:7] = -3.0  # small scales
    dark_red = torch.tensor([[0.0, 0.5, 1.0]]).view(1, 3, 1, 1)  # full blue: likely only when red is bright
    bright_red = torch.tensor([[1.0, 0.5, 1.0]]).view(1, 3, 1, 1)
    assert abs(mix.log_prob(params, dark_red) - mix.log_prob(params, bright_red)).item() > 5


def test_gradients_are_finite_at_extremes():
    mix = LogisticMixture()
    params = (torch.randn(2, mix.param_channels(3), 4, 4) * 30).requires_grad_()
    x = torch.tensor([0.0, 1.0]).view(2, 1, 1, 1).expand(2, 3, 4, 4).contiguous()
    mix.log_prob(params, x).sum().backward()
    assert torch.isfinite(params.grad).all()


def test_mean_and_samples():
    mix = get_likelihood("logistic_mixture")
    params = torch.randn(2, mix.param_channels(3), 5, 5)
    mean = mix.mean(params)
    assert mean.shape == (2, 3, 5, 5) and mean.min() >= 0 and mean.max() <= 1
    a = mix.sample(params, generator=torch.Generator().manual_seed(3))
    b = mix.sample(params, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.shape == (2, 3, 5, 5)
    assert torch.equal(torch.round(a * 255), a * 255)  # on the 256 levels


def test_sharp_component_samples_and_means_hit_its_location():
    mix = LogisticMixture(components=2)
    params = torch.zeros(1, mix.param_channels(1), 2, 2)
    params[:, 0], params[:, 1] = 20.0, -20.0  # all weight on component 0
    # per component (component-major): location, log-scale
    params[:, 2], params[:, 3] = 0.2, -7.0  # component 0: location 0.2 on [-1, 1], a tiny scale
    assert mix.mean(params).sub(0.6).abs().max() < 1e-3
    assert mix.sample(params).sub(0.6).abs().max() < 1 / 255


def test_wrong_parameter_count_is_a_clear_error():
    mix = LogisticMixture(components=2)
    with pytest.raises(ConfigError, match="parameter maps"):
        mix.log_prob(torch.zeros(1, 7, 2, 2), torch.zeros(1, 3, 2, 2))


@pytest.mark.parametrize("name,config", [
    ("vae", {"latent_dim": 8, "channels": 8, "blocks": 0}),
    ("hvae", {"channels": 8, "blocks": 0, "latent_layers": 2, "latent_channels": 2}),
])
def test_vae_families_train_a_step_on_rgb_32_with_the_mixture(name, config):
    torch.manual_seed(0)
    model = build_model(name, {**config, "image_shape": (3, 32, 32), "likelihood": "logistic_mixture"})
    x = torch.rand(4, 3, 32, 32)
    out = model((x, None))
    assert torch.isfinite(out["loss"]) and out["loss"].ndim == 0
    out["loss"].backward()
    assert model.sample(2).shape == (2, 3, 32, 32)
