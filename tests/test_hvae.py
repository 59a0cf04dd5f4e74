"""Hierarchical VAE: contract shapes, an ELBO whose parts add up, training, likelihood, saving."""

import pytest
import torch

from latentforge.errors import ConfigError
from latentforge.jobs.evaluate import evaluator, importance_sampled_nll
from latentforge.models import build_model, latent_of, load_model, save_model
from latentforge.training import TrainConfig, Trainer, read_metrics

from conftest import tiny_dataset

TINY_HVAE = {"channels": 8, "latent_channels": 2, "latent_layers": 3}




def make(shape=(1, 28, 28), **options):
    torch.manual_seed(0)
    likelihood = "bernoulli" if shape[0] == 1 else "logistic"
    return build_model("hvae", {"image_shape": shape, "likelihood": likelihood, **TINY_HVAE, **options})


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_contract_shapes(shape):
    model = make(shape)
    x = torch.rand(2, *shape)
    out = model.objective((x, None))
    assert out["loss"].ndim == 0 and torch.isfinite(out["loss"])
    out["loss"].backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    posterior = model.encode(x)
    z = latent_of(posterior)
    assert z.shape == (2, model.latent_dim) and posterior.top.mean.shape[0] == 2
    for latent in (z, posterior.top.mean, posterior.top.mean.flatten(1)):
        decoded = model.decode(latent)
        assert decoded.shape == (2, *shape) and 0 <= decoded.min() and decoded.max() <= 1
    samples = model.sample(3, temperature=0.7, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (3, *shape) and 0 <= samples.min() and samples.max() <= 1
    with pytest.raises(ConfigError, match="latents"):
        model.decode(torch.zeros(2, 5))


def test_latents_sit_at_two_resolutions_and_bad_configs_are_clear():
    model = make()
    assert sorted({s[-1] for s in model.latent_shapes}) == [7, 14]
    assert model.latent_shapes[0][-1] == 7  # the top layer is the coarsest
    with pytest.raises(ConfigError, match="latent_layers"):
        make(latent_layers=1)
    with pytest.raises(ConfigError, match="latent_scales"):
        make(latent_scales=3)


def test_elbo_parts_add_up_and_per_layer_kls_sum_to_the_kl():
    model = make()
    x = torch.bernoulli(torch.rand(4, 1, 28, 28))
    with torch.no_grad():
        for p in model.parameters():  # leave the zero-initialised start, where every KL is exactly 0
            p.add_(0.05 * torch.randn_like(p))
    parts = model.evaluate_batch((x, None))
    layers = [parts[f"kl_{i}"] for i in range(3)]
    assert all(v.shape == (4,) for v in parts.values())
    assert torch.allclose(sum(layers), parts["kl"], rtol=1e-5)
    assert torch.allclose(parts["elbo"], -(parts["rec"] + parts["kl"]), rtol=1e-5)
    assert torch.allclose(parts["loss"], -parts["elbo"])
    assert (parts["kl"] > 0).all() and "kl_3" not in parts


def test_warmup_and_free_bits_shape_the_training_loss_only():
    model = make(kl_warmup_steps=10, beta=2.0, free_bits=1000.0, kl_balance=False)
    x = torch.bernoulli(torch.rand(4, 1, 28, 28))
    torch.manual_seed(1)
    out = model.objective((x, None), step=5)
    # Weight 2·5/10 = 1; every layer's KL is below its 1000-nat floor, so the penalty is 3 × 1000.
    assert out["loss"].item() == pytest.approx(out["rec"].item() + 3000.0, rel=1e-5)
    assert out["elbo"].item() == pytest.approx(-(out["rec"] + out["kl"]).item(), rel=1e-5)


def test_kl_balancing_favours_unused_layers_during_the_warmup_only():
    model = make(kl_warmup_steps=10)
    x = torch.bernoulli(torch.rand(4, 1, 28, 28))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    torch.manual_seed(1)
    warm = model.objective((x, None), step=5)
    kls = torch.stack([warm[f"kl_{i}"] for i in range(3)])
    coeff = model._balance(kls)
    assert coeff.mean().item() == pytest.approx(1.0)
    per_dim = kls / torch.tensor([2 * 7 * 7, 2 * 7 * 7, 2 * 14 * 14])
    assert torch.equal(coeff.argsort(), per_dim.argsort())  # less information per dimension, less weight
    assert warm["loss"].item() == pytest.approx((warm["rec"] + 0.5 * (coeff * kls).sum()).item(), rel=1e-5)
    torch.manual_seed(1)
    done = model.objective((x, None), step=10)
    assert done["loss"].item() == pytest.approx((done["rec"] + done["kl"]).item(), rel=1e-5)


@pytest.mark.parametrize("options", [{}, {"k": 4}], ids=["elbo", "iwae-bound"])
def test_training_lowers_the_loss(tmp_path, options):
    train, test = tiny_dataset(32, "train"), tiny_dataset(8, "test", seed=1)
    config = TrainConfig(epochs=6, batch_size=16, lr=5e-3, log_every=1, warmup_steps=2, eval_batch_size=16,
                         binarize="dynamic", eval_every=0)
    metrics = Trainer(make(**options), train, test, config, tmp_path, progress=False, evaluate=evaluator(config)).fit()
    losses = [r["loss"] for r in read_metrics(tmp_path / "metrics.jsonl") if r["event"] == "train"]
    assert len(losses) == 12 and sum(losses[-3:]) / 3 < 0.85 * sum(losses[:3]) / 3
    assert {"elbo", "kl", "kl_0", "kl_2", "psnr"} <= set(metrics)
    if options:
        assert metrics["elbo_k"] >= metrics["elbo"]


def test_the_importance_weighted_bound_is_tighter_than_the_elbo():
    model = make(k=4)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    x = torch.bernoulli(torch.rand(4, 1, 28, 28))
    out = model.objective((x, None))
    assert out["elbo_k"].item() > out["elbo"].item() and out["loss"].item() == -out["elbo_k"].item()
    out["loss"].backward()
    assert all(p.grad is not None for p in model.parameters())
    parts = model.evaluate_batch((x, None))
    assert torch.equal(parts["loss"], -parts["elbo_k"]) and parts["elbo_k"].shape == parts["elbo"].shape == (4,)

    with pytest.raises(ConfigError, match="k"):
        make(k=0)
    with pytest.raises(ConfigError, match="no separate KL term"):
        make(k=5, kl_warmup_steps=100)


def test_importance_sampled_nll_is_at_most_the_negative_elbo():
    model = make()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    data = tiny_dataset(8, "test")
    result = importance_sampled_nll(model, data, k=32, batch_size=4, binarize=True)
    assert result["nll"] < -result["elbo"]
    assert 0 <= result["active_units"] <= model.latent_dim == result["latent_dims"]


def test_save_load_is_bit_exact(tmp_path):
    model = make(shape=(3, 32, 32)).eval()
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(model.decode(latent_of(model.encode(x))), loaded.decode(latent_of(loaded.encode(x))))
    a = model.sample(2, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, loaded.sample(2, generator=torch.Generator().manual_seed(4)))


def test_the_mnist_preset_builds_the_literature_protocol():
    from latentforge.api import build_run_config

    run = build_run_config("hvae-mnist")
    assert run.model_name == "hvae" and run.train.binarize == "dynamic"
    model = build_model("hvae", {**run.model_options, "image_shape": (1, 28, 28)})
    assert len(model.latent_shapes) == 6 and model.config.kl_warmup_steps > 0
