"""Vector quantisation with a straight-through gradient (van den Oord, Vinyals & Kavukcuoglu, 2017,
"Neural discrete representation learning"), with optional EMA codebook updates (ibid., appendix A.1;
Razavi, van den Oord & Vinyals, 2019) and restarts of unused codes (Dhariwal et al., 2020, Jukebox).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


class Quantized(NamedTuple):
    z_q: torch.Tensor  # quantised latents N×D×h×w carrying the straight-through gradient to z_e
    indices: torch.Tensor  # code indices N×h×w (int64)
    codebook_loss: torch.Tensor  # ||sg[z_e] − e||² per image (zeros with EMA updates)
    commitment_loss: torch.Tensor  # ||z_e − sg[e]||² per image


class VectorQuantizer(nn.Module):
    """Maps each D-vector of an N×D×h×w map to its nearest of ``num_codes`` codebook vectors.

    The codebook is initialised from encoder outputs of the first training batch (a common remedy for
    codes that are never used). With ``ema=True`` the codebook is a buffer updated as the exponential
    moving average of the encoder outputs assigned to each code, with Laplace-smoothed counts; with
    ``restart=True`` too, a code whose average count per batch falls below one is moved to a random
    encoder output of the current batch until it is used again (Jukebox's remedy for dead codes).
    """

    def __init__(self, num_codes: int, dim: int, *, ema: bool = False, decay: float = 0.99, eps: float = 1e-5,
                 restart: bool = False):
        super().__init__()
        self.num_codes, self.dim, self.ema, self.decay, self.eps = num_codes, dim, ema, decay, eps
        self.restart = restart and ema
        init = torch.empty(num_codes, dim).uniform_(-1 / num_codes, 1 / num_codes)
        if ema:
            self.register_buffer("codebook", init)
            self.register_buffer("ema_count", torch.ones(num_codes))
            self.register_buffer("ema_sum", init.clone())
        else:
            self.codebook = nn.Parameter(init)
        self.register_buffer("initialized", torch.tensor(False))

    @staticmethod
    def _flat(z: torch.Tensor) -> torch.Tensor:
        return z.movedim(1, -1).reshape(-1, z.shape[1])

    def indices(self, z_e: torch.Tensor) -> torch.Tensor:
        """Nearest code per position: N×h×w int64."""
        flat = self._flat(z_e.detach()).to(self.codebook.dtype)
        codebook = self.codebook.detach()
        dist = (flat**2).sum(1, keepdim=True) - 2 * flat @ codebook.T + (codebook**2).sum(1)
        return dist.argmin(1).view(z_e.shape[0], *z_e.shape[2:])

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """Code vectors for N×h×w indices: N×D×h×w."""
        return F.embedding(indices, self.codebook).movedim(-1, 1)

    def forward(self, z_e: torch.Tensor) -> Quantized:
        if self.training and not bool(self.initialized):
            self._init_from(z_e)
        idx = self.indices(z_e)
        z_q = self.lookup(idx)
        commitment = ((z_e - z_q.detach()) ** 2).flatten(1).sum(1)
        if self.ema:
            codebook_loss = torch.zeros_like(commitment)
            if self.training:
                self._ema_update(z_e, idx)
        else:
            codebook_loss = ((z_e.detach() - z_q) ** 2).flatten(1).sum(1)
        # Straight-through: the decoder's gradient with respect to z_q is passed to z_e unchanged.
        return Quantized(z_e + (z_q - z_e).detach(), idx, codebook_loss, commitment)

    @torch.no_grad()
    def _init_from(self, z_e: torch.Tensor) -> None:
        flat = self._flat(z_e).to(self.codebook.dtype)
        if flat.shape[0] >= self.num_codes:
            pick = torch.randperm(flat.shape[0], device=flat.device)[: self.num_codes]
            codes = flat[pick]
        else:  # too few vectors: reuse them, jittered so that codes differ
            pick = torch.randint(flat.shape[0], (self.num_codes,), device=flat.device)
            codes = flat[pick] + 0.01 * flat.std() * torch.randn_like(flat[pick])
        self.codebook.data.copy_(codes)
        if self.ema:
            self.ema_sum.copy_(codes)
            self.ema_count.fill_(1.0)
        self.initialized.fill_(True)

    @torch.no_grad()
    def _ema_update(self, z_e: torch.Tensor, idx: torch.Tensor) -> None:
        flat, idx = self._flat(z_e).to(self.codebook.dtype), idx.flatten()
        counts = torch.bincount(idx, minlength=self.num_codes).to(flat.dtype)
        sums = torch.zeros_like(self.ema_sum).index_add_(0, idx, flat)
        self.ema_count.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        total = self.ema_count.sum()
        smoothed = (self.ema_count + self.eps) / (total + self.num_codes * self.eps) * total
        codebook = self.ema_sum / smoothed.unsqueeze(1)
        if self.restart:
            dead = (self.ema_count < 1.0).unsqueeze(1)
            if bool(dead.any()):
                # A restarted code starts afresh at its new place, as if it had been used once there.
                fresh = flat[torch.randint(flat.shape[0], (self.num_codes,), device=flat.device)]
                codebook = torch.where(dead, fresh, codebook)
                self.ema_sum.copy_(torch.where(dead, fresh, self.ema_sum))
                self.ema_count.masked_fill_(dead.squeeze(1), 1.0)
        self.codebook.copy_(codebook)

    @staticmethod
    def perplexity(indices: torch.Tensor, num_codes: int) -> torch.Tensor:
        """exp(entropy) of the code usage: 1 if one code is used everywhere, num_codes if all equally."""
        p = torch.bincount(indices.flatten(), minlength=num_codes).float()
        p = p / p.sum()
        return torch.exp(-(p * torch.log(p.clamp(min=1e-12))).sum())
