"""Importance-sampled NLL against an exact log-likelihood, chunking, determinism and the ELBO bound."""

import functools
import math

import pytest
import torch
from torch import nn
from torch.distributions import MultivariateNormal

from latentforge.data import ImageDataset
from latentforge.errors import ConfigError
from latentforge.jobs.evaluate import (
    evaluate_model,
    importance_sampled_nll,
    merge_shards,
)
from latentforge.metrics.likelihood import active_units
from latentforge.models import build_model
from latentforge.nn.distributions import LOG_2PI

from conftest import TINY_MODEL, tiny_dataset


class LinearGaussianVAE(nn.Module):
    """z ~ N(0, I_d), x | z ~ N(Wz + b, σ²I): p(x) = N(b, WWᵀ + σ²I) exactly (a test double, unregistered).

    q(z|x) is the exact posterior N(m(x), S) shifted by ``q_shift`` and with its covariance scaled by
    ``q_scale``²; with the defaults every importance weight equals log p(x). Latents are drawn one
    sample at a time, so the random stream does not depend on how k is chunked.
    """

    name = "linear-gaussian"
    capabilities = frozenset()

    def __init__(self, pixels: int = 4, d: int = 2, sigma: float = 0.3, q_shift: float = 0.0, q_scale: float = 1.0):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.W = nn.Parameter(torch.randn(pixels, d, generator=g, dtype=torch.float64) * 0.5, requires_grad=False)
        self.b = nn.Parameter(torch.full((pixels,), 0.5, dtype=torch.float64), requires_grad=False)
        self.sigma, self.q_shift, self.q_scale = sigma, q_shift, q_scale

    def exact_log_px(self, x: torch.Tensor) -> torch.Tensor:
        cov = self.W @ self.W.T + self.sigma**2 * torch.eye(len(self.b), dtype=torch.float64)
        return MultivariateNormal(self.b, cov).log_prob(x.flatten(1).double())

    def _joint(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x | z) + log p(z), broadcasting over leading sample dimensions."""
        residual = x - (z @ self.W.T + self.b)
        log_lik = -0.5 * (residual / self.sigma).pow(2).sum(-1) - x.shape[-1] * (math.log(self.sigma) + 0.5 * LOG_2PI)
        return log_lik - 0.5 * z.pow(2).sum(-1) - 0.5 * z.shape[-1] * LOG_2PI

    def encode(self, x: torch.Tensor) -> MultivariateNormal:
        x = x.flatten(1).double()
        d = self.W.shape[1]
        cov = torch.linalg.inv(torch.eye(d, dtype=torch.float64) + self.W.T @ self.W / self.sigma**2)
        mean = (x - self.b) @ self.W @ cov / self.sigma**2
        return MultivariateNormal(mean + self.q_shift, cov * self.q_scale**2)

    def log_importance_weights(self, batch, k: int) -> torch.Tensor:
        x = batch[0].flatten(1).double()
        q = self.encode(x)
        eps = torch.stack([torch.randn(q.mean.shape, dtype=torch.float64) for _ in range(k)])  # k×N×d
        z = q.mean + eps @ q.scale_tril[0].T
        return self._joint(x, z) - q.log_prob(z)

    def evaluate_batch(self, batch):
        x = batch[0].flatten(1).double()
        q = self.encode(x)
        z = q.sample()
        log_pz = -0.5 * z.pow(2).sum(-1) - 0.5 * z.shape[-1] * LOG_2PI
        rec = log_pz - self._joint(x, z)
        kl = q.log_prob(z) - log_pz  # a one-sample KL estimate suffices here
        return {"loss": rec + kl, "elbo": -(rec + kl), "rec": rec, "kl": kl, "pixel_sum": x.sum(1)}


def grey_dataset(n: int = 12) -> ImageDataset:
    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (n, 1, 2, 2), generator=g, dtype=torch.uint8)
    return ImageDataset(images=images, labels=None, name="grey", split="test", num_classes=None,
                        likelihood_hint="logistic")


def exact_nll(model: LinearGaussianVAE, data: ImageDataset) -> float:
    return float(-model.exact_log_px(data.images.float() / 255).mean())


def test_the_exact_posterior_makes_one_sample_exact():
    model, data = LinearGaussianVAE(), grey_dataset()
    result = importance_sampled_nll(model, data, k=1, batch_size=5)
    assert result["nll"] == pytest.approx(exact_nll(model, data), abs=1e-9)
    assert result["images"] == 12 and result["k"] == 1
    assert result["nll_bits_per_dim"] == pytest.approx(result["nll"] / (4 * math.log(2)))


def test_a_wrong_posterior_converges_to_the_exact_likelihood():
    model, data = LinearGaussianVAE(q_shift=0.4, q_scale=1.5), grey_dataset()
    exact = exact_nll(model, data)
    errors = {k: importance_sampled_nll(model, data, k=k, batch_size=6)["nll"] - exact for k in (1, 1000)}
    # A lower bound on log p(x) in expectation: the NLL estimate is too high, by less as k grows.
    assert errors[1] > 0.1
    assert abs(errors[1000]) < 0.05 and abs(errors[1000]) < errors[1] / 5


def test_chunking_over_k_does_not_change_the_estimate():
    model, data = LinearGaussianVAE(q_shift=0.4, q_scale=1.5), grey_dataset()
    whole = importance_sampled_nll(model, data, k=50, batch_size=12, chunk=50)
    for chunk in (1, 7):
        assert importance_sampled_nll(model, data, k=50, batch_size=12, chunk=chunk)["nll"] == \
            pytest.approx(whole["nll"], abs=1e-9)


def test_active_units_count_directions_the_posterior_mean_varies_in():
    means = torch.stack([torch.randn(200), torch.randn(200) * 0.01, torch.zeros(200)], dim=1)
    assert active_units(means) == 1
    result = importance_sampled_nll(LinearGaussianVAE(), grey_dataset(), k=1)
    assert result["latent_dims"] == 2 and 0 <= result["active_units"] <= 2


def test_binarised_results_are_repeatable_and_on_the_test_set_evaluate_uses():
    model, data = LinearGaussianVAE(q_shift=0.4, q_scale=1.5), grey_dataset(30)
    a = importance_sampled_nll(model, data, k=20, batch_size=7, binarize=True, seed=3)
    b = importance_sampled_nll(model, data, k=20, batch_size=7, binarize=True, seed=3)
    assert {k: v for k, v in a.items() if k != "seconds"} == {k: v for k, v in b.items() if k != "seconds"}
    # Same binary images as evaluate_model with the same seed, whatever the batch sizes.
    reference = evaluate_model(model, data, batch_size=16, binarize=True, seed=3)
    assert a["pixel_sum"] == pytest.approx(reference["pixel_sum"], abs=1e-12)
    other = importance_sampled_nll(model, data, k=20, batch_size=7, binarize=True, seed=4)
    assert other["pixel_sum"] != pytest.approx(a["pixel_sum"], abs=1e-12)


def test_shards_see_the_same_images_and_merge_to_the_whole_estimate():
    model, data = LinearGaussianVAE(q_shift=0.4, q_scale=1.5), grey_dataset(30)
    run = functools.partial(importance_sampled_nll, model, data, k=20, batch_size=7, binarize=True, seed=3)
    whole = run()
    shards = [run(start=start, max_images=end) for start, end in ((0, 11), (11, 25), (25, 30))]
    assert shards[0]["nll"] == run(max_images=11)["nll"]  # the shard at 0 is the unsharded run
    merged = merge_shards(shards, data.shape)
    assert merged["images"] == 30 and merged["k"] == 20
    assert merged["pixel_sum"] == pytest.approx(whole["pixel_sum"], abs=1e-9)  # the same binary images
    assert merged["nll"] == pytest.approx(whole["nll"], rel=0.01)  # other importance samples, same quantity
    n = whole["images"]
    total, squares = torch.tensor(whole["posterior_mean_sum"]), torch.tensor(whole["posterior_mean_sqsum"])
    variance = (squares - total ** 2 / n) / (n - 1)
    for threshold in [0.0, *variance.tolist()]:
        assert merge_shards(shards, data.shape, threshold=threshold * 0.999)["active_units"] == \
            int((variance > threshold * 0.999).sum())
    with pytest.raises(ConfigError, match=r"start must be in \[0, 30\)"):
        run(start=30)


def test_nll_is_below_the_negative_elbo_for_a_real_vae():
    torch.manual_seed(0)
    model = build_model("vae", TINY_MODEL)
    data = tiny_dataset(16, "test")
    state = torch.random.get_rng_state()
    result = importance_sampled_nll(model, data, k=64, batch_size=8, binarize=True, max_images=12)
    assert torch.equal(state, torch.random.get_rng_state())  # the caller's random state is untouched
    reference = evaluate_model(model, data, binarize=True, max_images=12)
    assert result["images"] == 12 and model.training
    assert result["nll"] < -result["elbo"] and result["nll"] < reference["loss"]
    assert {"rec", "kl", "active_units", "seconds"} <= set(result)


def test_models_without_a_likelihood_are_refused():
    with pytest.raises(ConfigError, match="no likelihood"):
        importance_sampled_nll(build_model("ae", TINY_MODEL), tiny_dataset(4, "test"), k=2)


def test_the_evaluate_verb_adds_the_nll(tiny_npz, tmp_path):
    import json

    from click.testing import CliRunner

    from latentforge.cli import main
    from latentforge.models import save_model

    torch.manual_seed(0)
    save_model(build_model("hvae", {"channels": 4, "latent_channels": 2, "latent_layers": 2}), tmp_path / "m")
    args = ["evaluate", str(tmp_path / "m"), "--data", f"npz:{tiny_npz}", "--max-images", "6", "--nll", "--k", "4"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output[result.output.index("{"):])
    assert figures["k"] == 4 and figures["images"] == 6
    assert figures["nll"] == pytest.approx(figures["loss"], rel=0.05)  # the −ELBO, on the same images
    assert {"nll_bits_per_dim", "active_units", "latent_dims", "nll_seconds"} <= set(figures)


def test_nll_works_for_the_conditional_vae():
    from latentforge.jobs.evaluate import importance_sampled_nll

    data = tiny_dataset(8, "test", seed=3)
    model = build_model("cvae", {**TINY_MODEL, "num_classes": 4})
    result = importance_sampled_nll(model, data, k=4, batch_size=4)
    assert result["images"] == 8 and math.isfinite(result["nll"]) and result["active_units"] >= 0
