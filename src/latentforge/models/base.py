"""The model contract every family follows (see DESIGN.md, "The model contract")."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import torch
from torch import nn

from ..errors import ConfigError
from ..validation import Limit, at_least, check_fields
from .capabilities import Capability

Batch = tuple[torch.Tensor, "torch.Tensor | None"]


@dataclasses.dataclass
class ModelConfig:
    """Fields every model config has: the shape of the images it models.

    ``image_shape`` None validates the options alone, before the data (and so the shape) is known; a model
    is always built with the real shape. Numeric fields are checked against ``limits`` (see
    :mod:`latentforge.validation`): each family lists a range for every number it adds.
    """

    image_shape: tuple[int, ...] | None = (1, 28, 28)

    limits: ClassVar[dict[str, Limit]] = {"image_shape": at_least(1, 4096)}

    def validate(self) -> None:
        check_fields(self, "model")
        if self.image_shape is not None:
            self.check_image_shape(tuple(self.image_shape))

    def check_image_shape(self, shape: tuple[int, ...]) -> None:
        """Shape rules; families with their own (square images, sizes) extend this."""
        if len(shape) != 3 or shape[0] not in (1, 3):
            raise ConfigError(f"image_shape must be (C, H, W) with C in (1, 3), got {shape}")


class GenerativeModel(nn.Module):
    """Base class: ``forward``/``objective``, ``encode``/``decode`` where they exist, ``sample``, ``capabilities``.

    Images are float N×C×H×W in [0, 1]. ``objective(batch, step, player)`` returns a dict of scalar tensors
    with ``loss`` plus named parts; ``step`` lets schedules such as KL warm-up depend on training progress.
    The Trainer calls the module (``model(batch, step, player=player)``), so that wrappers such as
    DistributedDataParallel see the forward pass.
    """

    name: ClassVar[str] = ""
    config_class: ClassVar[type[ModelConfig]] = ModelConfig
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    # Adversarial families have several players, each with its own optimiser, updated in this order.
    players: ClassVar[tuple[str, ...]] = ("main",)
    # Whether fit_prior does anything: the Trainer encodes the whole training set for it only when it does
    # (the fcvae-cifar10 model took 95 s for CIFAR-10's 50,000 on 2 CPU threads, wasted with a fixed prior).
    fits_prior: ClassVar[bool] = False

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config

    # -- the contract ---------------------------------------------------------------------------
    def forward(self, batch: Batch, step: int = 0, player: str = "main") -> dict[str, torch.Tensor] | None:
        """One optimisation step's objective for ``player``: what the Trainer calls."""
        self.check_player(player)
        return self.objective(batch, step, player)

    def objective(self, batch: Batch, step: int = 0, player: str = "main") -> dict[str, torch.Tensor] | None:
        """The training objective for ``player`` (single-player models ignore it). Multi-player models may
        return None to skip a player on this step (e.g. one generator step per five critic steps)."""
        raise NotImplementedError

    def check_player(self, player: str) -> None:
        if player not in self.players:
            raise ValueError(f"Unknown player {player!r}; {self.name} has players {self.players}.")

    def encode(self, x: torch.Tensor) -> Any:
        raise NotImplementedError(f"{self.name} has no encoder")

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{self.name} has no decoder")

    def sample(self, n: int, *, labels: torch.Tensor | None = None, temperature: float = 1.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError(f"{self.name} cannot sample")

    # -- optional hooks -------------------------------------------------------------------------
    def player_parameters(self, player: str):
        """The parameters ``player``'s optimiser updates (all of them for a single-player model)."""
        return self.parameters()

    def trained_parameter_count(self) -> int:
        """Parameters the optimisers train, each once: a GAN's generator average is a copy, not counted."""
        unique = {id(p): p for player in self.players for p in self.player_parameters(player)}
        return sum(p.numel() for p in unique.values())

    def optimizer_settings(self, player: str) -> dict[str, Any]:
        """Adam settings that override the training config for ``player`` (e.g. TTUR learning rates)."""
        return {}

    def after_step(self, step: int) -> None:
        """Called after every optimisation step (e.g. to update an exponential moving average)."""

    def evaluate_batch(self, batch: tuple[torch.Tensor, torch.Tensor | None]) -> dict[str, torch.Tensor]:
        """Per-image evaluation figures (each a tensor of shape N); defaults to the objective's parts."""
        return {k: v.detach().expand(batch[0].shape[0]) for k, v in self.objective(batch).items()}

    def fit_prior(self, latents: torch.Tensor) -> None:
        """Called once after training with the training set's latents (``latent_of(encode(x))``) to fit a
        sampling prior on them (the AE's Gaussian, the VQ-VAE's PixelCNN); most models have nothing to fit."""

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.config.image_shape)  # type: ignore[return-value]

    def config_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)


class GaussianLatentModel(GenerativeModel):
    """A model with N×``latent_dim`` latents and a standard-normal prior (or one built on standard-normal draws)."""

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim  # type: ignore[attr-defined]

    def prior_sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` draws of N(0, temperature² I): the one standard-normal latent draw of every family."""
        device = next(self.parameters()).device
        return torch.randn(n, self.latent_dim, generator=generator, device=device) * temperature


def latent_of(encoded: Any) -> torch.Tensor:
    """The point estimate of an encoding: the posterior mean for VAEs, the code itself otherwise."""
    return encoded.mean if hasattr(encoded, "mean") and not isinstance(encoded, torch.Tensor) else encoded


@contextmanager
def seeded_eval(model: nn.Module, seed: int) -> Iterator[torch.device]:
    """Eval mode and a private global RNG seeded with ``seed`` for the block; yields the model's device.

    The caller's RNG state and the model's train/eval mode come back afterwards, so evaluations repeat
    exactly and a training run's randomness is untouched.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            yield device
    finally:
        model.train(was_training)
