"""GAN family: training through the Trainer, exact resume, the gradient penalty, EMA, DiffAugment,
conditioning, the VAE-GAN and inversion."""

import math

import pytest
import torch

from latentforge.errors import ConfigError
from latentforge.jobs.evaluate import evaluate_model, evaluator
from latentforge.jobs.invert import invert, train_inversion_encoder
from latentforge.models import build_model, load_model, save_model
from latentforge.nn.diffaugment import AUGMENTATIONS, diff_augment
from latentforge.nn.gan_losses import gradient_penalty
from latentforge.training import TrainConfig, Trainer, read_metrics

from conftest import TINY_MODEL

GANS = ["dcgan", "wgan-gp", "sngan", "cgan"]


EXTRA = {"vae-gan": {"d_channels": 4}, "sngan": {"diffaugment": "color,translation,cutout"}}


def make_trainer(name, train, test, run_dir, model_options=None, **overrides):
    torch.manual_seed(0)
    options = {**TINY_MODEL, "image_shape": train.shape, **EXTRA.get(name, {}), **(model_options or {})}
    model = build_model(name, options)
    config = TrainConfig(**{"epochs": 2, "batch_size": 16, "log_every": 1, "warmup_steps": 2, "eval_batch_size": 16,
                            **overrides})
    return Trainer(model, train, test, config, run_dir, progress=False, evaluate=evaluator(config))


def records(run_dir, event):
    return [r for r in read_metrics(run_dir / "metrics.jsonl") if r["event"] == event]


@pytest.mark.parametrize("name", GANS + ["vae-gan"])
def test_trains_without_nans_and_resumes_bit_exact(name, tiny_train, tiny_test, tmp_path):
    full_dir, split_dir = tmp_path / "full", tmp_path / "split"
    full = make_trainer(name, tiny_train, tiny_test, full_dir)
    full.fit()
    make_trainer(name, tiny_train, tiny_test, split_dir, max_steps=3).fit()
    torch.manual_seed(1234)  # a fresh process: other weights and RNG state until the checkpoint is read
    make_trainer(name, tiny_train, tiny_test, split_dir).fit(resume=True)

    train = records(full_dir, "train")
    assert len(train) == 8 and all(math.isfinite(v) for r in train for v in r.values() if isinstance(v, float))
    assert any("generator_loss" in r for r in train) and all("discriminator_loss" in r for r in train)
    untimed = lambda rs: [{k: v for k, v in r.items() if k != "images_per_s"} for r in rs]  # noqa: E731
    assert untimed(train) == untimed(records(split_dir, "train"))  # bit-exact losses after the resume

    a, b = load_model(full_dir / "model").state_dict(), load_model(split_dir / "model").state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert all(torch.isfinite(v).all() for v in a.values() if v.is_floating_point())

    evals = records(full_dir, "eval")
    assert [r["epoch"] for r in evals] == [1, 2]
    if name == "vae-gan":  # a VAE underneath: likelihood and reconstruction figures (finalize ran on it)
        assert {"elbo", "bits_per_dim", "mse"} <= set(evals[-1])
    else:  # the discriminator's figures, and nothing that would pass for a likelihood
        assert {"d_loss", "d_real", "d_fake"} <= set(evals[-1]) and not {"loss", "bits_per_dim"} & set(evals[-1])
        ema, raw = full.model.generator_ema.state_dict(), full.model.generator.state_dict()
        assert any(not torch.equal(ema[k], raw[k]) for k in raw if raw[k].is_floating_point())
        assert any(k.startswith("generator_ema.") for k in a)


def test_saved_gan_keeps_ema_and_spectral_norm_buffers(tmp_path):
    torch.manual_seed(0)
    model = build_model("cgan", {**TINY_MODEL, "num_classes": 3})
    x, y = torch.rand(8, 1, 28, 28), torch.arange(8) % 3
    for step in range(3):  # power iterations move u/v; EMA updates move the average
        model.objective((x, y), step, player="discriminator")["loss"].backward()
        model.after_step(step)
    state = model.state_dict()
    assert any(k.endswith("._u") for k in state) and any(k.endswith("._v") for k in state)
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    restored = loaded.state_dict()
    assert state.keys() == restored.keys() and all(torch.equal(state[k], restored[k]) for k in state)
    model.eval()
    assert torch.equal(model.discriminator(x, y), loaded.discriminator(x, y))
    g = lambda: torch.Generator().manual_seed(5)  # noqa: E731
    assert torch.equal(model.sample(4, generator=g()), loaded.sample(4, generator=g()))


def test_gradient_penalty_has_the_known_value_for_a_linear_critic():
    w = torch.tensor([[[[3.0, 0.0], [0.0, 4.0]]]])  # ‖∇ₓ⟨w, x⟩‖ = ‖w‖ = 5 for every example
    critic = lambda x: (x * w).flatten(1).sum(1) + 0.7  # noqa: E731
    real, fake = torch.rand(6, 1, 2, 2), torch.rand(6, 1, 2, 2)
    gp = gradient_penalty(critic, real, fake)
    assert gp.shape == (6,) and torch.allclose(gp, torch.full((6,), 16.0))  # (5 − 1)²
    half = w / 10  # ‖w‖ = 0.5 → (0.5 − 1)²
    assert torch.allclose(gradient_penalty(lambda x: (x * half).flatten(1).sum(1), real, fake), torch.full((6,), 0.25))


def test_gradient_penalty_is_finite_for_a_flat_critic_and_when_real_equals_fake():
    w = torch.zeros(1, 1, 4, 4, requires_grad=True)  # a flat critic: its input gradient is exactly 0
    gp = gradient_penalty(lambda x: (x * w).flatten(1).sum(1), torch.rand(3, 1, 4, 4), torch.rand(3, 1, 4, 4))
    gp.mean().backward()
    assert torch.allclose(gp, torch.ones(3)) and torch.isfinite(w.grad).all()

    torch.manual_seed(0)
    model = build_model("wgan-gp", TINY_MODEL)
    x = torch.rand(4, 1, 28, 28)
    gp = gradient_penalty(model.discriminator, x * 2 - 1, x * 2 - 1)
    gp.mean().backward()
    assert torch.isfinite(gp).all() and gp.min() > 0
    grads = [p.grad for p in model.discriminator.parameters() if p.grad is not None]  # biases of the head get none
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_wgan_gp_steps_the_generator_once_every_five_critic_steps(tiny_train, tmp_path):
    trainer = make_trainer("wgan-gp", tiny_train, None, tmp_path, channels_last=False)
    model = trainer.model
    x = torch.rand(8, 1, 28, 28)
    skipped = [model.objective((x, None), s, player="generator") is None for s in range(10)]
    assert skipped == [True, True, True, True, False] * 2
    for _ in range(10):
        trainer._train_step(x, None)
    state = lambda p: trainer.optimizers[p].state[next(model.player_parameters(p))]["step"]  # noqa: E731
    assert state("discriminator") == 10 and state("generator") == 2
    assert trainer.optimizers["generator"].param_groups[0]["betas"] == (0.0, 0.9)
    assert {g["betas"] for g in trainer.optimizers["discriminator"].param_groups} == {(0.0, 0.9)}


def test_ema_with_decay_zero_is_the_raw_generator(tiny_train, tmp_path):
    trainer = make_trainer("dcgan", tiny_train, None, tmp_path, {"ema_decay": 0.0}, channels_last=False)
    x = torch.rand(8, 1, 28, 28)
    for _ in range(3):
        trainer._train_step(x, None)
    ema, raw = trainer.model.generator_ema.state_dict(), trainer.model.generator.state_dict()
    assert all(torch.equal(ema[k], raw[k]) for k in raw)
    initial = make_trainer("dcgan", tiny_train, None, tmp_path).model.generator  # same seed, untrained
    assert not torch.equal(raw["fc.weight"], initial.fc.weight)


@pytest.mark.parametrize("policy", [*AUGMENTATIONS, "color,translation,cutout"])
def test_diffaugment_keeps_shapes_changes_images_and_passes_gradients(policy):
    torch.manual_seed(0)
    x = (torch.rand(8, 3, 16, 16) * 2 - 1).requires_grad_(True)
    out = diff_augment(x, policy)
    assert out.shape == x.shape and not torch.equal(out, x)
    out.pow(2).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    if policy in ("translation", "cutout"):  # pixels are moved or dropped, never mixed: d out / d x ∈ {0, 1}
        x.grad = None
        torch.manual_seed(1)
        diff_augment(x, policy).sum().backward()
        assert set(x.grad.unique().tolist()) <= {0.0, 1.0}
    if policy == "cutout":
        zeroed = (diff_augment(x.detach(), "cutout") == 0).float().mean().item()
        assert 0.15 < zeroed < 0.3  # a square of half the side: about a quarter of the image
    with pytest.raises(ConfigError, match="Unknown DiffAugment"):
        diff_augment(x, "color,flip")


def test_cgan_samples_depend_on_labels(tiny_train, tmp_path):
    trainer = make_trainer("cgan", tiny_train, None, tmp_path, {"num_classes": 4}, channels_last=False)
    for x, y in [(tiny_train.images[:16].float() / 255, tiny_train.labels[:16])] * 4:
        trainer._train_step(x, y)
    model = trainer.model.eval()
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    zeros, ones = model.sample(4, labels=0, generator=g()), model.sample(4, labels=1, generator=g())
    assert not torch.allclose(zeros, ones)
    assert torch.equal(zeros, model.sample(4, labels=torch.zeros(4, dtype=torch.long), generator=g()))
    assert model.sample(5, generator=g()).shape == (5, 1, 28, 28)  # random classes when none are given
    with pytest.raises(ConfigError, match="class indices"):
        model.sample(2, labels=4)
    with pytest.raises(ConfigError, match="not class-conditional"):
        build_model("dcgan", TINY_MODEL).sample(2, labels=0)


@pytest.mark.parametrize("name", ["dcgan", "cgan"])
@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 64, 64)])
def test_gans_adapt_to_resolution_and_channels(name, shape):
    torch.manual_seed(0)
    model = build_model(name, {**TINY_MODEL, "image_shape": shape})
    x, y = torch.rand(2, *shape), torch.tensor([0, 1])
    for player in model.players:
        out = model.objective((x, y), 0, player=player)
        assert out["loss"].ndim == 0 and torch.isfinite(out["loss"])
    samples = model.sample(3, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (3, *shape) and 0 <= samples.min() and samples.max() <= 1


def test_config_checks():
    with pytest.raises(ConfigError, match="batch norm"):
        build_model("wgan-gp", {"d_norm": "batch"})
    with pytest.raises(ConfigError, match="num_classes"):
        build_model("cgan", {"num_classes": 1})
    with pytest.raises(ConfigError, match="Unknown adversarial loss"):
        build_model("dcgan", {"loss": "minimax"})
    assert build_model("sngan").optimizer_settings("discriminator") == {"lr": 2e-4, "betas": (0.5, 0.999)}
    assert build_model("dcgan").optimizer_settings("generator") == {"lr": 2e-4, "betas": (0.5, 0.999)}
    assert build_model("wgan-gp").optimizer_settings("generator") == {"lr": 1e-4, "betas": (0.0, 0.9)}


def test_evaluation_uses_the_discriminator_not_the_objective(tiny_test):
    model = build_model("dcgan", TINY_MODEL)
    model.objective = None  # evaluation must not call the multi-player objective
    a = evaluate_model(model, tiny_test, batch_size=16)
    assert a == evaluate_model(model, tiny_test, batch_size=16) and a["images"] == 32
    assert math.isfinite(a["d_loss"]) and "bits_per_dim" not in a


def _sharp_generator():
    torch.manual_seed(0)
    model = build_model("dcgan", TINY_MODEL)
    # An untrained generator's images barely depend on z (tanh of tiny activations), which would make
    # inversion trivially "accurate"; a larger output layer gives images that differ clearly by z.
    with torch.no_grad():
        model.generator_ema.out.weight.mul_(20)
    return model


def test_inversion_recovers_a_generated_image_and_improves_with_steps():
    model = _sharp_generator()
    z_true = torch.randn(6, 4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        images = model.generate_from_latent(z_true)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    errors = {steps: invert(model, images, steps=steps).error.mean().item() for steps in (0, 25, 100, 200)}
    assert errors[0] > 1e-2  # the images are far from the random starting points
    assert errors[0] > errors[25] > errors[100] > errors[200]
    result = invert(model, images, steps=200)
    assert result.error.max() < 1e-3 and result.z.shape == (6, 4) and result.reconstructions.shape == images.shape
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    with torch.no_grad():  # inversion needs gradients for z and turns them on itself
        assert invert(model, images, steps=25).error.mean() < errors[0]


def test_learned_encoder_gives_a_better_start_and_vae_gan_inverts_through_its_decoder():
    model = _sharp_generator()
    with torch.no_grad():
        images = model.generate_from_latent(torch.randn(8, 4, generator=torch.Generator().manual_seed(2)))
    encoder = train_inversion_encoder(model, steps=60, batch_size=16, channels=4)
    assert invert(model, images, steps=0, encoder=encoder).error.mean() < invert(model, images, steps=0).error.mean()

    torch.manual_seed(0)
    vae_gan = build_model("vae-gan", {**TINY_MODEL, "d_channels": 4})
    target = vae_gan.eval().decode(torch.randn(3, 4)).detach()
    assert invert(vae_gan, target, steps=30).error.mean() < invert(vae_gan, target, steps=0).error.mean()


def test_vae_gan_adds_the_weighted_adversarial_term_to_the_vae_loss():
    from latentforge.models.vae import VAE

    torch.manual_seed(0)
    model = build_model("vae-gan", {**TINY_MODEL, "d_channels": 4, "adversarial_weight": 3.0, "free_bits": 0.1})
    batch = (torch.rand(4, 1, 28, 28), None)
    torch.manual_seed(1)
    vae_part = VAE.objective(model, batch, 5)
    torch.manual_seed(1)
    out = model.objective(batch, 5, player="generator")
    assert out["elbo"] == vae_part["elbo"] and out["adv"] > 0
    assert out["loss"].item() == pytest.approx((vae_part["loss"] + 3.0 * out["adv"]).item(), rel=1e-6)
    model.config.adversarial_weight = 0.0
    torch.manual_seed(1)
    assert torch.equal(model.objective(batch, 5, player="generator")["loss"], vae_part["loss"])
    assert {"generate", "reconstruct", "likelihood"} <= model.capabilities


def test_parameter_count_leaves_out_the_generator_average():
    model = build_model("dcgan", TINY_MODEL)
    trained = sum(p.numel() for p in model.generator.parameters()) + \
        sum(p.numel() for p in model.discriminator.parameters())
    assert model.trained_parameter_count() == trained
    assert sum(p.numel() for p in model.parameters()) > trained  # the average is in the state, not trained
    vae = build_model("vae", TINY_MODEL)
    assert vae.trained_parameter_count() == sum(p.numel() for p in vae.parameters())
