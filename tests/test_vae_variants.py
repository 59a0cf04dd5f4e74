"""The VAE variants: beta-vae, free bits, cvae, iwae, vamp-vae and vq-vae with its PixelCNN prior."""

import functools
import math

import pytest
import torch

from latentforge.errors import ConfigError, DataError
from latentforge.jobs.evaluate import evaluator
from latentforge.models import build_model, load_model, save_model
from latentforge.models.vae import VAE
from latentforge.models.vamp_vae import mixture_log_prob
from latentforge.nn.pixelcnn import GatedPixelCNN
from latentforge.nn.quantize import VectorQuantizer
from latentforge.training import TrainConfig, Trainer

from conftest import TINY_MODEL, blob_images, tiny_dataset

X = blob_images(16, channels=1).float() / 255
Y = torch.arange(16) % 4
TINY_VQ = {**TINY_MODEL, "codebook_size": 16, "prior_channels": 4, "prior_layers": 2, "prior_batch_size": 16}
VARIANTS = {  # variant: (model name, config, Adam learning rate)
    "beta-vae": ("beta-vae", {}, 1e-2),
    "free-bits": ("vae", {"free_bits": 0.5}, 1e-2),
    "cvae": ("cvae", {"num_classes": 4}, 1e-2),
    "iwae": ("iwae", {}, 1e-2),
    "vamp-vae": ("vamp-vae", {"pseudo_inputs": 8}, 1e-2),
    "vq-vae": ("vq-vae", TINY_VQ, 1e-2),  # EMA codebook (the default)
    "vq-vae-codebook-loss": ("vq-vae", {**TINY_VQ, "ema": False}, 3e-3),
}




@functools.cache
def trained(variant: str, steps: int = 30):
    """A variant after ``steps`` Adam steps on one fixed batch, with its loss per step."""
    name, options, lr = VARIANTS[variant]
    torch.manual_seed(0)
    model = build_model(name, {**TINY_MODEL, **options})
    optimizer = torch.optim.Adam(model.player_parameters("main"), lr=lr)
    losses = []
    for step in range(steps):
        out = model.objective((X, Y), step)
        optimizer.zero_grad()
        out["loss"].backward()
        optimizer.step()
        losses.append(float(out["loss"].detach()))
    return model.eval(), losses


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_loss_falls(variant):
    _, losses = trained(variant)
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert all(math.isfinite(v) for v in losses)
    assert last < 0.85 * first, (first, last)


@pytest.mark.parametrize("variant", ["beta-vae", "free-bits", "cvae", "iwae", "vamp-vae"])
def test_save_and_load_is_bit_exact(variant, tmp_path):
    model, _ = trained(variant)
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.name == model.name and loaded.config_dict() == model.config_dict()
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(model.sample(4, generator=torch.Generator().manual_seed(1)),
                       loaded.sample(4, generator=torch.Generator().manual_seed(1)))
    torch.manual_seed(2)
    w = model.log_importance_weights((X[:4], Y[:4]), 3)
    torch.manual_seed(2)
    assert w.shape == (3, 4) and torch.equal(w, loaded.log_importance_weights((X[:4], Y[:4]), 3))


def test_beta_vae_is_the_vae_with_beta_4():
    model = build_model("beta-vae", TINY_MODEL)
    assert model.config.beta == 4.0 and model.kl_weight(10) == 4.0
    assert build_model("beta-vae", {**TINY_MODEL, "beta": 2.0}).config.beta == 2.0


# -- free bits ----------------------------------------------------------------------------------------

def test_free_bits_change_the_training_loss_but_not_the_evaluated_elbo():
    torch.manual_seed(0)
    plain = build_model("vae", TINY_MODEL)
    free = build_model("vae", {**TINY_MODEL, "free_bits": 3.0})
    free.load_state_dict(plain.state_dict())
    outs = []
    for model in (plain, free):
        torch.manual_seed(1)
        outs.append(model.objective((X, None)))
    (a, b) = outs
    assert torch.equal(a["elbo"], b["elbo"]) and torch.equal(a["kl"], b["kl"])
    with torch.no_grad():
        assert (free.encode(X).kl_standard_normal().mean(0) < 3.0).all()  # the floor of 3 nats/dim is active ...
    assert b["loss"].item() == pytest.approx((b["rec"] + 4 * 3.0).item(), rel=1e-6)  # ... so it replaces the KL
    assert b["loss"] > a["loss"]
    # With every dimension under the floor, the KL no longer pushes the encoder's scale: only rec does.
    b["loss"].backward()
    free_grad = [p.grad.clone() for p in free.encoder.parameters()]
    free.zero_grad()
    torch.manual_seed(1)
    free.objective((X, None))["rec"].backward()
    assert all(torch.allclose(g, p.grad, atol=1e-6) for g, p in zip(free_grad, free.encoder.parameters()))
    for model in (plain, free):
        torch.manual_seed(3)
        outs.append(model.evaluate_batch((X, None)))
    assert all(torch.equal(outs[2][k], outs[3][k]) for k in ("loss", "elbo", "rec", "kl"))


def test_free_bits_must_be_non_negative():
    with pytest.raises(ConfigError, match="free_bits"):
        build_model("vae", {**TINY_MODEL, "free_bits": -1.0})


# -- conditional VAE ----------------------------------------------------------------------------------

def test_cvae_samples_the_requested_classes():
    model, _ = trained("cvae")
    for label in range(4):
        images = model.sample(3, labels=label, generator=torch.Generator().manual_seed(0))
        assert images.shape == (3, 1, 28, 28) and 0 <= images.min() and images.max() <= 1
    same_z = [model.sample(4, labels=[c] * 4, generator=torch.Generator().manual_seed(0)) for c in range(4)]
    assert all(not torch.allclose(same_z[0], other, atol=1e-3) for other in same_z[1:])  # the label matters
    # Without labels it cycles through the classes: the same images as asking for 0, 1, 2, 3.
    cycled = model.sample(4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(cycled, model.sample(4, labels=torch.arange(4), generator=torch.Generator().manual_seed(0)))


def test_cvae_needs_labels_and_says_so():
    model, _ = trained("cvae")
    with pytest.raises(DataError, match="needs a class label"):
        model.objective((X, None))
    with pytest.raises(DataError, match="needs a class label"):
        model.log_importance_weights((X, None), 2)
    with pytest.raises(DataError, match="0..3"):
        model.evaluate_batch((X, Y + 1))
    with pytest.raises(ConfigError, match="0..3"):
        model.sample(2, labels=[0, 7])
    with pytest.raises(ConfigError, match="one label or 3"):
        model.sample(3, labels=[0, 1])
    with pytest.raises(ConfigError, match="labelled dataset"):
        build_model("cvae", TINY_MODEL)  # num_classes neither given nor filled in from data


# -- IWAE ---------------------------------------------------------------------------------------------

def test_iwae_bound_is_above_the_elbo_and_equals_it_for_k_1():
    model, _ = trained("iwae")
    batch = (X[:8], None)
    torch.manual_seed(0)
    with torch.no_grad():
        elbo = torch.stack([VAE.evaluate_batch(model, batch)["elbo"] for _ in range(100)])  # closed-form KL
        bound_1 = torch.stack([model.bound(batch, 1)[0] for _ in range(100)])
        bound_20 = torch.stack([model.bound(batch, 20)[0] for _ in range(20)])
        one = model.objective(batch)
    se = lambda t: float(t.mean(1).std() / math.sqrt(t.shape[0]))  # noqa: E731  (standard error of the mean)
    assert abs(bound_1.mean() - elbo.mean()) < 4 * (se(bound_1) + se(elbo))  # L_1 is the ELBO, in expectation
    assert bound_20.mean() > elbo.mean() + 4 * (se(bound_20) + se(elbo))  # and L_20 is strictly tighter
    assert one["elbo_k"] >= one["elbo"] and torch.equal(one["loss"], -one["elbo_k"])
    with torch.no_grad():
        bound, weights = model.bound(batch, 1)
    assert torch.equal(bound, weights[0])  # with one sample the bound is exactly the importance weight


def test_iwae_evaluation_reports_the_bound_beside_the_elbo_parts():
    model, _ = trained("iwae")
    torch.manual_seed(0)
    with torch.no_grad():
        out = model.evaluate_batch((X[:8], None))
    assert {"loss", "elbo_k", "elbo", "rec", "kl"} <= set(out)
    assert torch.equal(out["loss"], -out["elbo_k"])
    assert torch.allclose(out["elbo"], -(out["rec"] + out["kl"]))
    assert bool((out["kl"] > 0).all()) and bool((out["rec"] > 0).all())


# -- VampPrior ----------------------------------------------------------------------------------------

def test_vamp_prior_is_the_mixture_of_pseudo_input_posteriors():
    torch.manual_seed(0)
    model = build_model("vamp-vae", {**TINY_MODEL, "latent_dim": 2, "pseudo_inputs": 5}).eval()
    with torch.no_grad():
        components = model.prior_components()
        z = torch.randn(300, 2) * 2
        direct = torch.distributions.Normal(components.mean.double(), components.std.double())
        expected = torch.logsumexp(direct.log_prob(z.double().unsqueeze(1)).sum(-1), 1) - math.log(5)
        assert torch.allclose(model.prior_log_prob(z).double(), expected, atol=1e-4)
        # A density: it integrates to 1 over the plane (Riemann sum on a fine grid).
        lo, hi = (components.mean - 8 * components.std).min(), (components.mean + 8 * components.std).max()
        axis = torch.linspace(float(lo), float(hi), 400)
        grid = torch.cartesian_prod(axis, axis)
        mass = model.prior_log_prob(grid).double().exp().sum() * (axis[1] - axis[0]).double() ** 2
        assert mass.item() == pytest.approx(1.0, abs=0.01)
        # Chunked evaluation gives the same numbers as one pass.
        assert torch.allclose(mixture_log_prob(z, components), model.prior_log_prob(z))
        # Its samples come from the mixture: their mean is the mean of the component means.
        samples = model.prior_sample(20000, 1.0, torch.Generator().manual_seed(0))
        assert torch.allclose(samples.mean(0), components.mean.mean(0), atol=0.05)


def test_vamp_kl_is_the_monte_carlo_estimate_and_pseudo_inputs_learn():
    model, _ = trained("vamp-vae")
    with torch.no_grad():
        q = model.encode(X)
        z = q.sample()
        kl = model.kl_terms(q, z)
        assert kl.shape == (16, 1) and torch.allclose(kl[:, 0], q.log_prob(z) - model.prior_log_prob(z))
    fresh = build_model("vamp-vae", {**TINY_MODEL, "pseudo_inputs": 8})
    fresh.objective((X, None))["loss"].backward()
    assert fresh.pseudo_logits.grad is not None and fresh.pseudo_logits.grad.abs().sum() > 0
    with pytest.raises(ConfigError, match="free_bits"):
        build_model("vamp-vae", {**TINY_MODEL, "free_bits": 1.0})


# -- VQ-VAE and its prior -----------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["vq-vae", "vq-vae-codebook-loss"])
def test_vq_vae_uses_several_codes_and_encodes_to_indices(variant):
    model, _ = trained(variant)
    codes = model.encode(X)
    assert codes.dtype == torch.int64 and codes.shape == (16, 7, 7)
    assert codes.unique().numel() > 1
    assert 0 <= codes.min() and codes.max() < 16
    rec = model.decode(codes)
    assert rec.shape == X.shape and torch.equal(rec, model.decode(model.quantize(X)))
    assert "likelihood" not in model.capabilities and not hasattr(model, "log_importance_weights")


@pytest.mark.parametrize("ema", [True, False])
def test_vq_straight_through_gradient_reaches_the_encoder(ema):
    torch.manual_seed(0)
    model = build_model("vq-vae", {**TINY_VQ, "ema": ema})
    z_e = model.encoder(X)
    model.quantizer(z_e)  # the first training call initialises the codebook from z_e
    codebook = model.quantizer.codebook.detach().clone()  # (an EMA update follows each lookup)
    q = model.quantizer(z_e)
    assert torch.allclose(q.z_q, codebook[q.indices].movedim(-1, 1), atol=1e-6)  # forward: the codes themselves
    rec = -model.likelihood.log_prob(model.decoder(q.z_q), X).mean()
    rec.backward()  # the reconstruction alone: no commitment term that would reach the encoder directly
    grads = [p.grad.clone() for p in model.encoder.parameters()]
    assert sum(g.abs().sum() for g in grads) > 0
    assert model.quantizer.codebook.grad is None  # sg[·]: the reconstruction does not move the codebook
    if ema:  # the codebook follows the encoder by EMA, not by gradient
        assert all(p is not model.quantizer.codebook for p in model.parameters())
    else:  # the codebook term moves only the codebook
        q.codebook_loss.sum().backward()
        assert model.quantizer.codebook.grad.abs().sum() > 0
        assert all(torch.equal(g, p.grad) for g, p in zip(grads, model.encoder.parameters()))


@pytest.mark.parametrize("restart", [True, False])
def test_ema_restarts_bring_unused_codes_back(restart):
    torch.manual_seed(0)
    quantizer = VectorQuantizer(8, 2, ema=True, restart=restart)
    quantizer(torch.randn(4, 2, 3, 3))  # initialise the codebook around the origin
    far = torch.randn(4, 2, 3, 3) * 0.1 + 10  # then the data moves away: one code captures all of it
    used = [quantizer(far).indices.unique().numel() for _ in range(12)]
    assert used[0] == 1
    assert (min(used[-3:]) > 2) == restart


def test_pixelcnn_is_causal():
    torch.manual_seed(0)
    net = GatedPixelCNN(num_codes=6, channels=8, layers=3)
    codes = torch.randint(6, (2, 5, 5))
    base = net(codes)
    i, j = 2, 3
    changed = codes.clone()
    changed[:, i, j] = (changed[:, i, j] + 1) % 6
    diff = (net(changed) - base).abs().amax((0, 1))  # H×W: which outputs moved
    order = torch.arange(25).view(5, 5)
    assert diff[order <= i * 5 + j].max() == 0  # this and earlier positions never see it
    assert diff[i, j + 1] > 0 and diff[i + 1, j] > 0  # the next position and the one below do


def test_vq_vae_prior_is_fitted_after_training_and_samples_codes(tmp_path):
    train, test = tiny_dataset(32, "train", seed=0), tiny_dataset(16, "test", seed=1)
    torch.manual_seed(0)
    model = build_model("vq-vae", {**TINY_VQ, "prior_steps": 20, "prior_lr": 1e-2, "image_shape": train.shape})
    with pytest.raises(ConfigError, match="not been fitted"):
        model.sample(2)
    config = TrainConfig(epochs=2, batch_size=16, lr=3e-3, log_every=1, eval_batch_size=16, warmup_steps=0)
    metrics = Trainer(model, train, test, config, tmp_path, progress=False, evaluate=evaluator(config)).fit()
    assert {"loss", "rec", "commitment", "mse", "psnr"} <= set(metrics)
    assert bool(model.prior_fitted)
    codes = model.prior.sample(3, 7, 7, generator=torch.Generator().manual_seed(0))
    assert codes.dtype == torch.int64 and 0 <= codes.min() and codes.max() < 16
    images = model.sample(3, generator=torch.Generator().manual_seed(0))
    assert images.shape == (3, 1, 28, 28) and 0 <= images.min() and images.max() <= 1
    loaded = load_model(tmp_path)
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(images, loaded.sample(3, generator=torch.Generator().manual_seed(0)))
    # The prior learns the training codes: its NLL falls well below the uniform code model's.
    data_codes = model.encode(train.images.float() / 255)
    losses = model.fit_prior(data_codes, steps=40)
    assert sum(losses[-5:]) / 5 < 0.8 * 49 * math.log(16) and sum(losses[-5:]) < sum(losses[:5])
