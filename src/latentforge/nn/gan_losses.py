"""Adversarial losses, per example (shape N), and the WGAN-GP gradient penalty.

- ``nonsaturating``: D: −log σ(D(x)) − log(1 − σ(D(G(z)))); G: −log σ(D(G(z))) (Goodfellow et al., 2014, §3).
- ``hinge``: D: max(0, 1 − D(x)) + max(0, 1 + D(G(z))); G: −D(G(z)) (Lim & Ye, 2017; Miyato et al., 2018).
- ``wasserstein``: D: D(G(z)) − D(x); G: −D(G(z)) (Arjovsky et al., 2017), with the gradient penalty
  λ·(‖∇D(x̂)‖₂ − 1)² on random interpolates x̂ (Gulrajani et al., 2017, Algorithm 1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F

from ..errors import ConfigError


class AdversarialLoss(NamedTuple):
    discriminator: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (real scores, fake scores) → N
    generator: Callable[[torch.Tensor], torch.Tensor]  # fake scores → N


GAN_LOSSES: dict[str, AdversarialLoss] = {
    # softplus(−t) = −log σ(t) and softplus(t) = −log(1 − σ(t)), without overflow for large |t|.
    "nonsaturating": AdversarialLoss(lambda r, f: F.softplus(-r) + F.softplus(f), lambda f: F.softplus(-f)),
    "hinge": AdversarialLoss(lambda r, f: F.relu(1 - r) + F.relu(1 + f), lambda f: -f),
    "wasserstein": AdversarialLoss(lambda r, f: f - r, lambda f: -f),
}


def get_gan_loss(name: str) -> AdversarialLoss:
    try:
        return GAN_LOSSES[name]
    except KeyError:
        raise ConfigError(f"Unknown adversarial loss {name!r}; choose one of {sorted(GAN_LOSSES)}.") from None


def safe_norm(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Per-example L2 norm over all but the first dimension, √(Σx² + eps).

    ``x.norm()`` has the gradient x/‖x‖, which is 0/0 = NaN where the gradient of the critic vanishes
    (e.g. a flat critic, or real == fake early on); the eps inside the root keeps it finite.
    """
    return torch.sqrt(x.flatten(1).pow(2).sum(1) + eps)


def gradient_penalty(critic: Callable[..., torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     labels: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """(‖∇ₓ critic(x̂)‖₂ − 1)² per example, x̂ = αx + (1 − α)x̃ with α ~ U(0, 1) per example: shape N.

    The norm is taken per sample over all its pixels and channels, as in Gulrajani et al. (2017), not per
    pixel. The result is differentiable in the critic's parameters (``create_graph``).
    """
    alpha = torch.rand((real.shape[0],) + (1,) * (real.ndim - 1), generator=generator, dtype=real.dtype,
                       device=real.device)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    scores = critic(mixed) if labels is None else critic(mixed, labels)
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    return (safe_norm(grad) - 1) ** 2
