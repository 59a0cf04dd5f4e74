"""GANs at 32×32 RGB: the gan-cifar10 preset, the SNGAN ResNet generator and discriminator, one step per
player, the spectral-norm bound and the generator's moving average."""

import pytest
import torch

from latentforge.errors import ConfigError
from latentforge.models import build_model
from latentforge.nn.gan_resnet import ResNetDiscriminator, ResNetGenerator
from latentforge.run_config import load_run_config, run_config_from_dict

SHAPE = (3, 32, 32)
SMALL = {"image_shape": list(SHAPE), "arch": "resnet", "channels": 8, "latent_dim": 16}


def small_gan(name="sngan", **options):
    torch.manual_seed(0)
    return build_model(name, {**SMALL, **options})


def optimizers(model):
    return {p: torch.optim.Adam(model.player_parameters(p), **model.optimizer_settings(p)) for p in model.players}


def play(model, opts, player, step, x):
    """One optimiser step of ``player`` on batch ``x`` at trainer step ``step``; False when it sits out."""
    out = model((x, None), step, player=player)
    if out is None:
        return False
    opts[player].zero_grad(set_to_none=True)
    out["loss"].backward()
    opts[player].step()
    model.after_step(step)
    return True


def weights(module):
    """The weight matrices and kernels (a Wasserstein critic's last bias gets no gradient: it cancels in
    D(fake) − D(real))."""
    return [p for p in module.parameters() if p.ndim > 1]


def snapshot(module):
    return [p.detach().clone() for p in weights(module)]


def changed(before, module):
    return [not torch.equal(b, p) for b, p in zip(before, weights(module))]


def test_the_cifar10_preset_is_sngan_resnet_at_the_papers_settings():
    values = load_run_config("gan-cifar10")
    config = run_config_from_dict(values)
    assert config.data.name == "cifar10"
    options = {k: v for k, v in values["model"].items() if k != "name"}
    model = build_model(values["model"]["name"], {**options, "image_shape": list(SHAPE)})
    cfg = model.config
    assert (model.name, cfg.arch, cfg.loss, cfg.d_norm, cfg.n_critic) == ("sngan", "resnet", "hinge", "spectral", 5)
    assert tuple(cfg.betas) == (0.0, 0.9) and cfg.d_lr == cfg.g_lr == 2e-4
    assert isinstance(model.generator, ResNetGenerator) and isinstance(model.discriminator, ResNetDiscriminator)
    assert model.sample(2).shape == (2, *SHAPE)


def test_resnet_generator_and_discriminator_shapes():
    g = ResNetGenerator(SHAPE, latent_dim=16, channels=8)
    assert len(g.blocks) == 3 and g.start == (8, 4, 4)  # 4×4 → three up-blocks → 32×32 (Miyato et al., 2018)
    images = g(torch.randn(5, 16))
    assert images.shape == (5, *SHAPE) and images.min() >= 0 and images.max() <= 1
    d = ResNetDiscriminator(SHAPE, channels=8)
    assert [b.down for b in d.blocks] == [True, True, False, False]  # 32 → 16 → 8, two blocks at 8×8
    assert d(images * 2 - 1).shape == (5,)
    grey = ResNetGenerator((1, 28, 28), latent_dim=4, channels=4)
    assert grey(torch.randn(2, 4)).shape == (2, 1, 28, 28)  # other sizes follow the conv backbones' plan


def test_conditional_resnet_gan_conditions_both_players():
    model = small_gan("cgan", num_classes=10)
    labels = torch.tensor([0, 3, 9])
    assert model.sample(3, labels=labels).shape == (3, *SHAPE)
    x = torch.rand(3, *SHAPE) * 2 - 1
    d = model.discriminator
    assert not torch.allclose(d(x, labels), d(x, torch.tensor([1, 4, 2])))  # the projection term uses labels


@pytest.mark.parametrize("options, match", [
    ({"arch": "unet"}, "arch"),
    ({"d_norm": "batch"}, "resnet discriminator"),
])
def test_bad_arch_settings_are_config_errors(options, match):
    with pytest.raises(ConfigError, match=match):
        small_gan("dcgan", **options)


@pytest.mark.parametrize("name", ["sngan", "wgan-gp"])
def test_each_player_steps_and_changes_only_its_own_weights(name):
    model = small_gan(name, n_critic=2)
    model.train()
    opts, x = optimizers(model), torch.rand(4, *SHAPE)
    g_before, d_before = snapshot(model.generator), snapshot(model.discriminator)
    assert play(model, opts, "discriminator", 0, x)
    assert not play(model, opts, "generator", 0, x)  # n_critic = 2: the generator sits out step 0
    assert all(changed(d_before, model.discriminator)) and not any(changed(g_before, model.generator))
    d_before = snapshot(model.discriminator)
    assert play(model, opts, "generator", 1, x)
    assert all(changed(g_before, model.generator)) and not any(changed(d_before, model.discriminator))


def test_spectral_norm_bounds_every_discriminator_weight():
    model = small_gan("sngan")
    model.train()
    x = torch.rand(8, *SHAPE) * 2 - 1
    with torch.no_grad():
        for _ in range(30):  # one power iteration per forward pass in training mode
            model.discriminator(x)
    model.eval()
    sigmas = []
    for module in model.discriminator.modules():
        if hasattr(module, "parametrizations") and "weight" in module.parametrizations:
            weight = module.weight.detach()  # the normalised weight W / σ̂(W)
            sigmas.append(torch.linalg.matrix_norm(weight.flatten(1), ord=2).item())
    assert len(sigmas) == 4 * 2 + 2 + 1  # two convs per block, two 1×1 shortcuts, the head
    assert max(sigmas) < 1.05 and min(sigmas) > 0.9
    unbounded = small_gan("wgan-gp")  # the critic without spectral norm has larger operator norms
    norms = [torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2).item()
             for m in unbounded.discriminator.modules() if isinstance(m, torch.nn.Conv2d)]
    assert max(norms) > 1.5


def test_the_generator_average_follows_the_generator():
    model = small_gan("sngan", n_critic=1, ema_decay=0.9)
    model.train()
    opts, x = optimizers(model), torch.rand(4, *SHAPE)
    ema_before = snapshot(model.generator_ema)
    play(model, opts, "discriminator", 0, x)
    play(model, opts, "generator", 0, x)
    assert all(changed(ema_before, model.generator_ema))
    for average, raw, before in zip(weights(model.generator_ema), weights(model.generator), ema_before):
        assert (average - raw).norm() <= (before - raw).norm()  # the average moved towards the new weights
        assert not average.requires_grad
