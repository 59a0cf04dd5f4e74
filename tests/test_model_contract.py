"""The model contract, checked for every registered model (as diffusers' ModelTesterMixin does).

A model registered with ``@register`` is tested here the day it lands: built from a tiny config, trained one
step per player, encoded/decoded and sampled where its capabilities say so, saved and loaded, and its
capabilities checked against the Protocols it implements. A new family whose defaults are too big for a
quick test adds a row to ``TINY``.
"""

from __future__ import annotations

import copy
import functools
import math

import pytest
import torch

from latentforge.models import (
    Capability,
    GenerativeModel,
    SupportsImportanceWeights,
    SupportsLatentGeneration,
    SupportsPosterior,
    available_models,
    build_model,
    latent_of,
    load_model,
    save_model,
)

SHAPE = (1, 16, 16)
SHAPES = {"colorizer": (3, 16, 16)}  # families that need another shape than SHAPE (colour in, colour out)
N = 6
NUM_CLASSES = 3

# Small networks for the test only; every other option keeps the family's default.
_CONV = {"latent_dim": 4, "channels": 4, "blocks": 0}
_GAN = {"latent_dim": 4, "channels": 4}
TINY: dict[str, dict] = {
    "ae": _CONV, "vae": _CONV, "beta-vae": _CONV, "iwae": {**_CONV, "k": 2}, "fcvae": _CONV,
    "contrastive-vae": {**_CONV, "head_width": 8},
    "cvae": {**_CONV, "num_classes": NUM_CLASSES}, "vamp-vae": {**_CONV, "pseudo_inputs": 3},
    "vae-gan": {**_CONV, "d_channels": 4},
    "vq-vae": {**_CONV, "codebook_size": 8, "prior_channels": 4, "prior_layers": 1, "prior_steps": 2,
               "prior_batch_size": 4},
    "hvae": {"channels": 4, "blocks": 0, "latent_layers": 2, "latent_channels": 2, "latent_scales": 1},
    "dcgan": _GAN, "sngan": _GAN, "wgan-gp": _GAN, "cgan": {**_GAN, "num_classes": NUM_CLASSES},
    **{name: {"width": 4, "levels": 1, "blocks": 1} for name in ("denoiser", "inpainter", "colorizer")},
    "super-resolver": {"width": 4, "levels": 1, "blocks": 1, "factors": [2, 4]},
}


@functools.cache
def _built(name: str) -> GenerativeModel:
    torch.manual_seed(0)
    return build_model(name, {**TINY.get(name, {}), "image_shape": SHAPES.get(name, SHAPE)})


def tiny_model(name: str) -> GenerativeModel:
    """A fresh copy of the tiny model (built once per name: building checks a sized skeleton first)."""
    return copy.deepcopy(_built(name))


def conditional(model: GenerativeModel) -> bool:
    return bool(getattr(model, "num_classes", 0))


def tiny_batch(model: GenerativeModel) -> tuple[torch.Tensor, torch.Tensor | None]:
    g = torch.Generator().manual_seed(1)
    x = torch.rand(N, *model.image_shape, generator=g)
    return x, (torch.arange(N) % NUM_CLASSES if conditional(model) else None)


def overrides(method: str, model: GenerativeModel) -> bool:
    return getattr(type(model), method) is not getattr(GenerativeModel, method)


models = pytest.mark.parametrize("name", available_models())


def test_every_registered_model_has_a_tiny_config():
    assert set(available_models()) <= set(TINY), "add the new model to TINY"


@models
def test_forward_per_player_gives_a_finite_scalar_loss_that_backpropagates(name):
    model = tiny_model(name).train()
    batch = tiny_batch(model)
    assert model.players and isinstance(model.capabilities, frozenset)
    for player in model.players:
        # A player may skip steps (one generator step per n_critic critic steps): the first step it trains.
        out = next((o for step in range(10) if (o := model(batch, step, player=player)) is not None), None)
        assert out is not None, f"{name}: player {player} never trains"
        loss = out["loss"]
        assert loss.ndim == 0 and torch.isfinite(loss)
        assert all(v.ndim == 0 for v in out.values())
        model.zero_grad(set_to_none=True)
        loss.backward()
        grads = [p.grad for p in model.player_parameters(player)]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), f"{name}: {player}'s loss trains nothing"
    with pytest.raises(ValueError, match="Unknown player"):
        model(batch, 0, player="nobody")


@models
def test_encode_and_decode_where_reconstruct_is_declared(name):
    model = tiny_model(name).eval()
    if Capability.RECONSTRUCT not in model.capabilities:
        pytest.skip("no reconstruct capability")
    x, _ = tiny_batch(model)
    with torch.no_grad():
        z = latent_of(model.encode(x))
        images = model.decode(z)
    assert z.shape[0] == N
    assert images.shape == x.shape
    assert images.min() >= 0 and images.max() <= 1


def ready_to_sample(model: GenerativeModel) -> GenerativeModel:
    """What the Trainer does after the last epoch: fit the sampling prior on the training latents."""
    if Capability.RECONSTRUCT in model.capabilities:
        with torch.no_grad():
            model.fit_prior(latent_of(model.encode(tiny_batch(model)[0])).float())
    return model.eval()


def draw(model: GenerativeModel, seed: int = 3) -> torch.Tensor:
    labels = torch.arange(N) % NUM_CLASSES if conditional(model) else None
    return model.sample(N, labels=labels, temperature=0.8, generator=torch.Generator().manual_seed(seed))


@models
def test_sample_where_generate_is_declared(name):
    model = ready_to_sample(tiny_model(name))
    if Capability.GENERATE not in model.capabilities:
        pytest.skip("no generate capability")
    images = draw(model)
    assert images.shape == (N, *model.image_shape)
    assert images.min() >= 0 and images.max() <= 1
    assert torch.equal(images, draw(model)), "the same generator seed must give the same images"


@models
def test_save_and_load_give_the_same_outputs(name, tmp_path):
    model = ready_to_sample(tiny_model(name))
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m").eval()
    assert type(loaded) is type(model) and loaded.capabilities == model.capabilities
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    x, _ = tiny_batch(model)
    with torch.no_grad():
        if Capability.GENERATE in model.capabilities:
            assert torch.equal(draw(model), draw(loaded))
        if Capability.RECONSTRUCT in model.capabilities:
            assert torch.equal(model.decode(latent_of(model.encode(x))), loaded.decode(latent_of(loaded.encode(x))))


@models
def test_capabilities_agree_with_what_the_model_implements(name):
    model = tiny_model(name)
    caps = model.capabilities
    assert all(isinstance(c, Capability) for c in caps)
    assert (Capability.LIKELIHOOD in caps) == isinstance(model, SupportsImportanceWeights)
    assert (Capability.RECONSTRUCT in caps) <= (overrides("encode", model) and overrides("decode", model))
    assert (Capability.GENERATE in caps) == overrides("sample", model)
    assert (Capability.EDIT in caps) <= (Capability.RECONSTRUCT in caps)  # edits happen in the latent space
    assert isinstance(model, SupportsLatentGeneration) <= (Capability.GENERATE in caps)
    assert isinstance(model, SupportsPosterior) <= isinstance(model, SupportsImportanceWeights)
    if isinstance(model, SupportsImportanceWeights):
        model.eval()
        with torch.no_grad():
            weights = model.log_importance_weights(tiny_batch(model), 2)
        assert weights.shape == (2, N) and torch.isfinite(weights).all()
    assert math.isfinite(model.trained_parameter_count())
