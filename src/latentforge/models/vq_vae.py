"""VQ-VAE (van den Oord, Vinyals & Kavukcuoglu, 2017, "Neural discrete representation learning") with a
gated PixelCNN prior over its code map (van den Oord et al., 2016), so it can sample.

Stage 1 (the Trainer's steps) trains encoder, codebook and decoder on
    L = −log p(x | z_q(x)) + ||sg[z_e(x)] − e||² + β ||z_e(x) − sg[e]||²,   β = 0.25,
squared norms summed over the code map, with straight-through gradients. By default (``ema: true``) the
codebook follows exponential moving averages of its assigned encoder outputs instead of the second term
(paper, appendix A.1; Razavi et al., 2019), and unused codes are restarted on encoder outputs (Dhariwal et
al., 2020): on the bundled digits this used 440 of 512 codes instead of 27. Stage 2 fits the PixelCNN to
the training set's code maps in ``fit_prior``, which the Trainer calls once after the last epoch, so
``latentforge train --model vq-vae`` does both; ``fit_prior(codes)`` also refits it by hand.

``encode(x)`` returns code indices (int64, N×h×w: 7×7 for 28×28 images, 8×8 for 32×32 and 64×64);
``decode`` takes code indices or float latent maps N×D×h×w (``quantize(x)`` gives the quantised ones).
There is no likelihood in nats in the VAE sense, so the model does not claim the "likelihood" capability.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch

from ..errors import ConfigError
from ..nn.backbones import stage_plan
from ..nn.pixelcnn import GatedPixelCNN
from ..nn.quantize import VectorQuantizer
from ..nn.schedules import cosine_decay
from ..validation import (
    MAX_BATCH,
    MAX_DEPTH,
    MAX_STEPS,
    MAX_WEIGHT,
    MAX_WIDTH,
    Limit,
    above,
    at_least,
)
from .capabilities import Capability
from .conv_autoencoder import ConvAutoencoderBase, ConvAutoencoderConfig
from .registry import register

SMALLEST_GRID = 8  # the code map is 7×7 for 28×28 images and 8×8 for larger ones


@dataclasses.dataclass
class VQVAEConfig(ConvAutoencoderConfig):
    latent_dim: int = 16  # size D of each code vector
    codebook_size: int = 512  # K, as in the paper
    commitment: float = 0.25  # β, as in the paper
    ema: bool = True  # EMA codebook updates (paper, appendix A.1): steadier than the codebook loss here
    ema_decay: float = 0.99
    restart_dead_codes: bool = True  # with ema: move unused codes onto current encoder outputs (Jukebox)
    prior_channels: int = 32
    prior_layers: int = 8
    prior_steps: int = 2000  # Adam steps fitting the PixelCNN prior after training
    prior_batch_size: int = 64
    prior_lr: float = 3e-3

    limits: ClassVar[dict[str, Limit]] = {
        "codebook_size": at_least(2, 1 << 20), "commitment": at_least(0, MAX_WEIGHT),
        "ema_decay": Limit(0, 1, low_open=True, high_open=True),
        "prior_channels": at_least(1, MAX_WIDTH), "prior_layers": at_least(1, MAX_DEPTH),
        "prior_steps": at_least(0, MAX_STEPS), "prior_batch_size": at_least(1, MAX_BATCH), "prior_lr": above(0, 10),
    }


@register("vq-vae")
class VQVAE(ConvAutoencoderBase):
    config_class = VQVAEConfig
    capabilities = frozenset({Capability.GENERATE, Capability.RECONSTRUCT, Capability.EDIT, Capability.REPRESENT})
    fits_prior = True

    def __init__(self, config: VQVAEConfig):
        super().__init__(config)
        self.quantizer = VectorQuantizer(config.codebook_size, config.latent_dim, ema=config.ema,
                                         decay=config.ema_decay, restart=config.restart_dead_codes)
        self.prior = GatedPixelCNN(config.codebook_size, config.prior_channels, config.prior_layers)
        self.register_buffer("prior_fitted", torch.tensor(False))

    def backbone_options(self) -> dict:
        return {"spatial": True, "smallest": SMALLEST_GRID}

    @property
    def grid_shape(self) -> tuple[int, int]:
        _, final = stage_plan(self.image_shape[1], SMALLEST_GRID)
        return final, final

    def player_parameters(self, player: str):
        """Stage 1 trains everything but the prior (which ``fit_prior`` fits)."""
        return [p for name, p in self.named_parameters() if not name.startswith("prior.")]

    # -- encode / decode ---------------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.quantizer.indices(self.encoder(x))

    def quantize(self, x: torch.Tensor) -> torch.Tensor:
        """The quantised latent map z_q(x): N×D×h×w."""
        return self.quantizer.lookup(self.encode(x))

    def encode_continuous(self, x: torch.Tensor) -> torch.Tensor:
        """The pre-quantisation map z_e(x): N×D×h×w (where edits interpolate)."""
        return self.encoder(x)

    def decode_continuous(self, z: torch.Tensor) -> torch.Tensor:
        """Images from pre-quantisation maps, each vector snapped to its nearest code first."""
        return self.decode(self.quantizer.indices(z))

    def decode_params(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z if z.is_floating_point() else self.quantizer.lookup(z))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.likelihood.mean(self.decode_params(z))

    # -- stage 1 -----------------------------------------------------------------------------------
    def _losses(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        q = self.quantizer(self.encoder(x))
        rec = -self.likelihood.log_prob(self.decoder(q.z_q), x)
        loss = rec + q.codebook_loss + self.config.commitment * q.commitment_loss
        return {"loss": loss, "rec": rec, "codebook": q.codebook_loss, "commitment": q.commitment_loss,
                "indices": q.indices}

    def objective(self, batch, step=0, player="main"):
        parts = self._losses(batch[0])
        indices = parts.pop("indices")
        out = {k: v.mean() for k, v in parts.items() if not (k == "codebook" and self.config.ema)}
        out["perplexity"] = VectorQuantizer.perplexity(indices, self.config.codebook_size)
        return out

    def evaluate_batch(self, batch):
        parts = self._losses(batch[0])
        parts.pop("indices")
        return {k: v for k, v in parts.items() if not (k == "codebook" and self.config.ema)}

    # -- stage 2: the prior over code maps ---------------------------------------------------------
    def fit_prior(self, codes: torch.Tensor, steps: int | None = None, seed: int = 0) -> list[float]:
        """Train the PixelCNN on N×h×w code maps by Adam with a cosine schedule; returns −log p per step (nats).

        The Trainer passes ``encode`` of every training image as floats, so float codes are rounded back.
        """
        cfg = self.config
        if codes.is_floating_point():
            codes = codes.round().long()
        steps = cfg.prior_steps if steps is None else steps
        if codes.ndim != 3 or tuple(codes.shape[1:]) != self.grid_shape or len(codes) == 0:
            h, w = self.grid_shape
            raise ConfigError(f"Code maps must be N×{h}×{w} code indices, got shape {tuple(codes.shape)}.")
        # Not the Trainer: a model's own second stage, fitted inside the Trainer's run (its fit_prior hook) on
        # code maps in memory; a nested Trainer would need a dataset, a run directory and checkpoints of its own.
        device = next(self.prior.parameters()).device
        generator = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.Adam(self.prior.parameters(), lr=cfg.prior_lr)
        losses: list[float] = []
        was_training = self.prior.training
        self.prior.train()
        with torch.enable_grad():
            for step in range(steps):
                for group in optimizer.param_groups:
                    group["lr"] = cfg.prior_lr * cosine_decay(step, steps)
                batch = codes[torch.randint(len(codes), (cfg.prior_batch_size,), generator=generator)].to(device)
                loss = -self.prior.log_prob(batch).mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(float(loss.detach()))
        self.prior.train(was_training)
        self.prior_fitted.fill_(True)
        return losses

    @torch.no_grad()
    def sample(self, n, *, labels=None, temperature=1.0, generator=None):
        if labels is not None:
            raise ConfigError("vq-vae is not class-conditional; sample without labels.")
        if not bool(self.prior_fitted):
            raise ConfigError(
                "This vq-vae's code prior has not been fitted yet: it is fitted after the last epoch. Finish "
                "training (resume the run) or call model.fit_prior(codes) with training code maps."
            )
        codes = self.prior.sample(n, *self.grid_shape, temperature=temperature, generator=generator)
        return self.decode(codes)
