"""Restoration solvers, picked by name as a scheduler is in diffusers: each takes a model and a
:class:`~latentforge.jobs.restore.problems.Problem` and returns the restored images with a record of how.

- ``model``: a dedicated restorer (``models/restorer.py``) trained for the problem's task, run over the whole
  image at any size (padded, in overlapping tiles above ``tile`` pixels a side; ``jobs/whole_image.py``).
- ``projection``: any VAE, autoencoder or GAN as a prior (Bora et al., 2017, "Compressed sensing using
  generative models"): the latent z minimising ‖A(G(z)) − y‖² + λ‖z‖²/d by Adam, starting from the encoder's
  posterior mean of the problem's first guess where the model has an encoder, else from N(0, I) draws (the
  best of ``restarts``). Works on images of the model's own size.
- ``auto``: ``model`` when the model is a dedicated restorer for the task, else ``projection``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import torch

from ...errors import ConfigError, DataError
from ...models import GenerativeModel, SupportsContinuousCode, SupportsLatentGeneration
from ...validation import at_least, check_value
from ..invert import invert
from ..whole_image import DEFAULT_OVERLAP, DEFAULT_TILE, apply_whole_image
from .problems import Problem


class Restoration(NamedTuple):
    images: torch.Tensor  # N×C×H×W in [0, 1], on the CPU
    method: str  # what produced them, e.g. "model (denoiser)" or "projection (Bora et al. 2017) through vae"
    details: dict[str, Any]  # the problem and the solver's settings and figures


# Geometric self-ensembles (Lim et al., 2017, EDSR+): (transform, its inverse) pairs of the dihedral group.
_MIRRORS = [(lambda t: t, lambda t: t), (lambda t: t.flip(-1), lambda t: t.flip(-1))]
_DIHEDRAL = [(lambda t, f=f, k=k: f(t).rot90(k, (-2, -1)), lambda t, f=f, k=k: f(t.rot90(-k, (-2, -1))))
             for f, _ in _MIRRORS for k in range(4)]
ENSEMBLES = {1: _MIRRORS[:1], 2: _MIRRORS, 8: _DIHEDRAL}


def dedicated(model: GenerativeModel, problem: Problem, *, tile: int | None = DEFAULT_TILE,
              overlap: int = DEFAULT_OVERLAP, ensemble: int = 1, progress: bool = False) -> Restoration:
    """The dedicated restorer ``model`` over the whole images, of any size. ``ensemble`` 2 or 8 averages the
    outputs for the mirrored (2) or all eight rotated and mirrored (8) inputs, each transformed back (a
    geometric self-ensemble, EDSR+): slower by that factor, usually a little more accurate."""
    if ensemble not in ENSEMBLES:
        raise ConfigError(f"ensemble must be 1 (off), 2 (mirror) or 8 (rotations and mirrors), got {ensemble!r}.")
    if not isinstance(model, problem.ability):
        raise ConfigError(f"A {model.name} model is not a dedicated model for {problem.task}; use a "
                          f"{problem.task} model (e.g. {DEDICATED[problem.task]}) or method 'projection' with a VAE "
                          "or GAN.")
    c = model.image_shape[0]
    if problem.observed.shape[1] != problem.observed_channels(c):
        raise DataError(f"This {model.name} model works on {'RGB' if c == 3 else 'grey'} images, but the image has "
                        f"{problem.observed.shape[1]} channel(s); convert it first (the CLI does this for files).")
    device = next(model.parameters()).device
    problem.to(device)
    multiple = max(1, math.ceil(model.size_multiple / problem.scale))
    model.eval()
    with torch.no_grad():
        def run(part: torch.Tensor) -> torch.Tensor:
            outputs = [back(problem.run_model(model, there(part))) for there, back in ENSEMBLES[ensemble]]
            return torch.stack(outputs).mean(0)

        out = apply_whole_image(run, problem.model_input(),
                                multiple=multiple, tile=tile, overlap=overlap, scale=problem.scale,
                                progress=progress, desc=problem.task)
        out = problem.finish(out)
    return Restoration(out.cpu(), f"model ({model.name})", {**problem.describe(), "solver": "model",
                                                           "tile": tile, "overlap": overlap, "ensemble": ensemble})


def projection(model: GenerativeModel, problem: Problem, *, steps: int = 300, lr: float = 0.05,
               prior_weight: float = 0.01, restarts: int = 1, seed: int = 0) -> Restoration:
    """Projection of the observation onto the range of ``model``'s decoder or generator (Bora et al., 2017)."""
    check_value("steps", steps, int, at_least(1))
    check_value("restarts", restarts, int, at_least(1))
    if isinstance(model, SupportsContinuousCode) or not (isinstance(model, SupportsLatentGeneration)
                                                         or type(model).decode is not GenerativeModel.decode):
        raise ConfigError(f"A {model.name} model has no latent vector to project onto (a decoder or generator from "
                          "N(0, I) latents); use a VAE, an autoencoder or a GAN, or a dedicated restoration model.")
    c, h, w = model.image_shape
    out_shape = (problem.output_channels(), problem.observed.shape[2] * problem.scale,
                 problem.observed.shape[3] * problem.scale)
    if out_shape != (c, h, w):
        raise DataError(f"Projection onto this {model.name} model gives {c}×{h}×{w} images, but this {problem.task} "
                        f"problem needs {'×'.join(map(str, out_shape))}. Projection works at the model's own size; "
                        "for images of any size use a dedicated fully convolutional model (denoiser, inpainter, "
                        "super-resolver, colorizer).")
    device = next(model.parameters()).device
    problem.to(device)
    start = problem.first_guess()
    encoder = model.encode if type(model).encode is not GenerativeModel.encode else None
    best = None
    for restart in range(1 if encoder is not None else restarts):
        found = invert(model, problem.observed, steps=steps, lr=lr, encoder=encoder, seed=seed + restart,
                       prior_weight=prior_weight, operator=problem.forward, start=start)
        if best is None:
            best = found
        else:
            better = found.error < best.error
            best = best._replace(reconstructions=torch.where(better.view(-1, 1, 1, 1), found.reconstructions,
                                                             best.reconstructions),
                                 error=torch.where(better, found.error, best.error))
    with torch.no_grad():
        out = problem.finish(best.reconstructions.to(device))
    return Restoration(out.cpu(), f"projection (Bora et al. 2017) through {model.name}",
                       {**problem.describe(), "solver": "projection", "steps": steps, "lr": lr,
                        "prior_weight": prior_weight, "start": "encoder" if encoder is not None else "N(0, I)",
                        "restarts": 1 if encoder is not None else restarts,
                        "observed_mse": [float(e) for e in best.error]})


SOLVERS: dict[str, Callable[..., Restoration]] = {"model": dedicated, "projection": projection}
DEDICATED = {"denoise": "denoiser", "inpaint": "inpainter", "upscale": "super-resolver", "colorize": "colorizer"}
METHODS = ("auto", *SOLVERS)


def solve(model: GenerativeModel, problem: Problem, method: str = "auto", **options: Any) -> Restoration:
    """Restore ``problem`` with ``model`` by ``method`` (``auto``, ``model`` or ``projection``). ``options`` are
    the solvers' keyword arguments (``tile``, ``overlap``, ``ensemble``, ``progress`` for ``model``; ``steps``, ``lr``,
    ``prior_weight``, ``restarts``, ``seed`` for ``projection``); each solver takes the ones it knows."""
    if method not in METHODS:
        raise ConfigError(f"Unknown restoration method {method!r}; choose one of {', '.join(METHODS)}.")
    if method == "auto":
        method = "model" if isinstance(model, problem.ability) else "projection"
    takes = {name: set(list(inspect.signature(f).parameters)[2:]) for name, f in SOLVERS.items()}
    unknown = sorted(set(options) - set().union(*takes.values()))
    if unknown:
        raise ConfigError(f"No restoration solver takes {', '.join(unknown)}; they take "
                          f"{', '.join(sorted(set().union(*takes.values())))}.")
    return SOLVERS[method](model, problem, **{k: v for k, v in options.items() if k in takes[method]})
