"""Random views of images for contrastive objectives: a random resized crop (scale and shift) and a horizontal
flip, per image, as in SimCLR's augmentation family (Chen et al., 2020) less the colour distortions, which a
grey image does not have. Pure torch; images N×C×H×W in [0, 1], the area outside the source filled with 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_views(x: torch.Tensor, *, zoom: float = 0.2, shift: float = 0.15, flip: bool = True,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """One random view of each image: zoomed by a factor in [1 − zoom, 1 + zoom], shifted by up to ``shift`` of
    its size in each direction, and mirrored left–right with probability ½ when ``flip``."""
    n = x.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=generator, dtype=x.dtype).to(x.device)

    scale = uniform(1 - zoom, 1 + zoom)
    mirror = torch.where(uniform(0, 1) < 0.5, -1.0, 1.0).to(x.dtype) if flip else torch.ones_like(scale)
    theta = torch.zeros(n, 2, 3, dtype=x.dtype, device=x.device)
    theta[:, 0, 0] = mirror / scale
    theta[:, 1, 1] = 1 / scale
    theta[:, 0, 2] = uniform(-2 * shift, 2 * shift)  # affine_grid's coordinates span [-1, 1]: 2 per image size
    theta[:, 1, 2] = uniform(-2 * shift, 2 * shift)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def nt_xent(a: torch.Tensor, b: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """SimCLR's normalised-temperature cross-entropy (Chen et al., 2020, eq. 1) per pair, shape N: each of the
    2N projections must pick its partner view among the other 2N − 1 by cosine similarity / temperature."""
    n = a.shape[0]
    z = F.normalize(torch.cat([a, b]), dim=1)
    logits = z @ z.T / temperature
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(logits, partner, reduction="none").view(2, n).mean(0)


def random_crop_flip(x: torch.Tensor, pad: int = 4, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """The standard CIFAR augmentation: each image reflect-padded by ``pad`` pixels, cropped back to its size at a
    random integer offset, and mirrored left–right with probability ½."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    dy = torch.randint(2 * pad + 1, (n,), generator=generator).tolist()
    dx = torch.randint(2 * pad + 1, (n,), generator=generator).tolist()
    crops = torch.stack([padded[i, :, y: y + h, z: z + w] for i, (y, z) in enumerate(zip(dy, dx))])
    mirror = (torch.rand(n, generator=generator) < 0.5).view(n, 1, 1, 1).to(x.device)
    return torch.where(mirror, crops.flip(-1), crops)
