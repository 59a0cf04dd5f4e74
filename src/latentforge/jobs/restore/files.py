"""Restoration of image files at their own size: read, build the problem, solve, write; one row per file."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from ...data import read_image, to_float
from ...errors import ConfigError
from ...models import GenerativeModel
from ...nn import degradations as ops
from ..output import check_image_output, write_image
from .mask_files import read_mask
from .problems import Problem
from .solvers import solve

ProblemMaker = Callable[[torch.Tensor, Path], Problem]


def known_mask(height: int, width: int, *, known: torch.Tensor | None = None,
               box: Sequence[int] | None = None, mask_file: str | os.PathLike | None = None,
               random_pixels: float | None = None, seed: int = 0) -> torch.Tensor:
    """The 1×1×H×W (or N×1×H×W) known-pixel mask given by exactly one of: a boolean tensor ``known``, a
    missing ``box`` (x, y, w, h), a ``mask_file`` (white = missing) or ``random_pixels`` (a fraction of the
    pixels dropped at random, seeded: for trying inpainting on a complete image)."""
    given = [name for name, value in (("known", known), ("box", box), ("mask file", mask_file),
                                      ("random pixels", random_pixels)) if value is not None]
    if len(given) != 1:
        raise ConfigError("Say which pixels are missing in exactly one way: a mask file (white = missing), a box "
                          f"x,y,w,h, or a fraction of random pixels; got {', '.join(given) or 'none'}.")
    if known is not None:
        return known
    if box is not None:
        if len(box) != 4:
            raise ConfigError(f"A box is x,y,w,h (four integers), got {list(box)}.")
        return ops.box_mask(height, width, tuple(box))
    if mask_file is not None:
        return read_mask(mask_file, height, width)
    return ops.random_pixel_mask(1, height, width, random_pixels, generator=torch.Generator().manual_seed(seed))


def file_targets(out: str | os.PathLike, files: Sequence[Path]) -> list[Path]:
    """``out`` for one file; ``OUT-NAME.EXT`` for several (``OUT-NAME-I.EXT`` where names repeat)."""
    out = Path(out)
    if len(files) == 1:
        return [out]
    names = [f.stem for f in files]
    if len(set(names)) < len(names):
        names = [f"{name}-{i + 1}" for i, name in enumerate(names)]
    return [out.with_name(f"{out.stem}-{name}{out.suffix}") for name in names]


def restore_files(model: GenerativeModel, files: Sequence[str | os.PathLike], out: str | os.PathLike,
                  make_problem: ProblemMaker, *, channels: int, method: str = "auto",
                  **options: Any) -> dict[str, Any]:
    """Restore each image file (read with ``channels``) at its own size and write it to ``out`` (one file) or
    ``OUT-NAME.EXT`` per file. Returns ``{"out": [...], "images", "method", "per_image": rows}``; every output
    target is checked before the work starts."""
    files = [Path(f) for f in files]
    if not files:
        raise ConfigError("Give at least one image file to restore.")
    targets = file_targets(out, files)
    for target in targets:
        check_image_output(target)
    rows, method_used = [], None
    for source, target in zip(files, targets):
        image = to_float(read_image(source, channels=channels))
        restored = solve(model, make_problem(image, source), method, **options)
        write_image(restored.images[0], target)
        method_used = restored.method
        rows.append({"file": str(source), "out": str(target), "height": int(image.shape[1]),
                     "width": int(image.shape[2]), "out_height": int(restored.images.shape[2]),
                     "out_width": int(restored.images.shape[3]), "method": restored.method,
                     **{k: v for k, v in restored.details.items() if k != "observed_mse"}})
    return {"out": [r["out"] for r in rows], "images": len(rows), "method": method_used, "per_image": rows}
