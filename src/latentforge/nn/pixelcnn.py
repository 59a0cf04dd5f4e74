"""Gated PixelCNN over a grid of discrete codes (van den Oord et al., 2016, "Conditional image generation
with PixelCNN decoders"): an autoregressive prior p(c) = Π_ij p(c_ij | c_<ij) in raster order.

A vertical stack sees the rows above and a horizontal stack the positions to the left in the same row; the
vertical features feed the horizontal stack, so the receptive field has no blind spot. Causality comes from
shifting the input by one row (vertical) and one column (horizontal) and cropping the convolutions to the
past, instead of masking weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _gate(x: torch.Tensor) -> torch.Tensor:
    a, b = x.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


class GatedLayer(nn.Module):
    """One gated layer: output row i sees input rows ≤ i (vertical), output (i, j) sees (i, ≤ j) (horizontal)."""

    def __init__(self, channels: int, kernel: int = 3):
        super().__init__()
        pad = kernel // 2
        self.vertical = nn.Conv2d(channels, 2 * channels, (pad + 1, kernel), padding=(pad, pad))
        self.horizontal = nn.Conv2d(channels, 2 * channels, (1, pad + 1), padding=(0, pad))
        self.v_to_h = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.h_out = nn.Conv2d(channels, channels, 1)

    def forward(self, v: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        height, width = v.shape[-2:]
        v_pre = self.vertical(v)[:, :, :height]  # row i: input rows i−pad … i
        h_pre = self.horizontal(h)[..., :width] + self.v_to_h(v_pre)  # (i, j): input (i, j−pad … j)
        return _gate(v_pre), h + self.h_out(_gate(h_pre))


class GatedPixelCNN(nn.Module):
    """Logits N×num_codes×H×W for an N×H×W grid of code indices; position (i, j) sees only earlier codes."""

    def __init__(self, num_codes: int, channels: int = 32, layers: int = 8, kernel: int = 3):
        super().__init__()
        self.num_codes = num_codes
        self.embed = nn.Embedding(num_codes, channels)
        self.layers = nn.ModuleList(GatedLayer(channels, kernel) for _ in range(layers))
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 1), nn.ReLU(),
                                  nn.Conv2d(channels, num_codes, 1))

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        x = self.embed(codes).movedim(-1, 1)
        v = F.pad(x, (0, 0, 1, 0))[:, :, :-1]  # shift down one row: row i holds rows < i
        h = F.pad(x, (1, 0, 0, 0))[..., :-1]  # shift right one column: (i, j) holds (i, < j)
        for layer in self.layers:
            v, h = layer(v, h)
        return self.head(h)

    def log_prob(self, codes: torch.Tensor) -> torch.Tensor:
        """log p(codes) in nats per grid: shape N."""
        return -F.cross_entropy(self(codes), codes, reduction="none").flatten(1).sum(1)

    @torch.no_grad()
    def sample(self, n: int, height: int, width: int, *, temperature: float = 1.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """N×H×W code indices in raster order; temperature scales the logits (0 takes the most likely code)."""
        if temperature < 0:
            raise ValueError(f"temperature must be ≥ 0, got {temperature}")
        device = self.embed.weight.device
        codes = torch.zeros(n, height, width, dtype=torch.long, device=device)
        for i in range(height):
            for j in range(width):
                logits = self(codes[:, : i + 1])[:, :, i, j]  # later rows cannot influence row i
                if temperature == 0:
                    codes[:, i, j] = logits.argmax(1)
                else:
                    probs = torch.softmax(logits.double() / temperature, 1)
                    codes[:, i, j] = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        return codes
