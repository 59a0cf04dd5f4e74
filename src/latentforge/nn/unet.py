"""A small fully convolutional residual UNet (Ronneberger et al., 2015) for image-to-image networks.

Every stage keeps its resolution for ``blocks`` residual blocks, then halves it with a stride-2 conv; the way
back doubles it (nearest upsampling and a conv) and adds the skip from the same resolution. Widths double per
stage up to 4× ``width``. Any height and width that are multiples of ``2 ** levels`` go through (the
whole-image job pads other sizes), which is what lets a restorer trained on 28×28 images or photo crops run on
whole photos.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .backbones import ResidualBlock, stage_widths


class UNet(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, width: int = 32, levels: int = 2, blocks: int = 2,
                 *, zero_output: bool = True):
        super().__init__()
        widths = stage_widths(width, levels)
        self.levels = levels
        self.head = nn.Conv2d(in_channels, widths[0], 3, padding=1)
        self.down_blocks = nn.ModuleList(_blocks(widths[i], blocks) for i in range(levels))
        self.downs = nn.ModuleList(nn.Conv2d(widths[i], widths[i + 1], 4, stride=2, padding=1) for i in range(levels))
        self.middle = _blocks(widths[-1], blocks)
        self.ups = nn.ModuleList(nn.Conv2d(widths[i + 1], widths[i], 3, padding=1) for i in range(levels))
        self.up_blocks = nn.ModuleList(_blocks(widths[i], blocks) for i in range(levels))
        self.tail = nn.Sequential(nn.SiLU(), nn.Conv2d(widths[0], out_channels, 3, padding=1))
        if zero_output:  # a residual restorer starts as the identity (its output is added to the input)
            nn.init.zeros_(self.tail[-1].weight)
            nn.init.zeros_(self.tail[-1].bias)

    @property
    def size_multiple(self) -> int:
        return 2 ** self.levels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        skips = []
        for blocks, down in zip(self.down_blocks, self.downs):
            h = blocks(h)
            skips.append(h)
            h = down(F.silu(h))
        h = self.middle(h)
        for i in reversed(range(self.levels)):
            h = self.ups[i](F.interpolate(F.silu(h), scale_factor=2, mode="nearest")) + skips[i]
            h = self.up_blocks[i](h)
        return self.tail(h)


def _blocks(channels: int, count: int) -> nn.Sequential:
    return nn.Sequential(*(ResidualBlock(channels) for _ in range(count)))
