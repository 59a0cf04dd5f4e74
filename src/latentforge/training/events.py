"""What training tells a person while it runs: one line per event, on stderr by default.

The trainer reports through an ``on_event(kind, info)`` callback, so the CLI, the API and a web page can each
show the same events their own way. Kinds:

- ``start``: model, parameters, likelihood, image counts, device, epochs, batch size, lr, steps
- ``epoch``: epoch, epochs, step, ``train`` (the epoch's mean training figures), ``test`` (when evaluated), seconds
- ``warning``: ``warning`` (its name, e.g. ``posterior_collapse``) and the figures behind it
- ``stopped``: the run ended before its last epoch (``train.max_steps``): step, total_steps, train, test
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

EventHandler = Callable[[str, dict[str, Any]], None]

# The test figures an epoch line shows, when the model reports them.
EPOCH_FIGURES = ("loss", "elbo_k", "kl", "bits_per_dim", "psnr")


def print_event(kind: str, info: dict[str, Any]) -> None:
    """The default handler: the event's line on stderr (stdout stays free for results, e.g. JSON)."""
    print(format_event(kind, info), file=sys.stderr, flush=True)


def format_event(kind: str, info: dict[str, Any]) -> str:
    formatter = FORMATTERS.get(kind)
    return formatter(info) if formatter else f"{kind}: {info}"


def _start(info: dict[str, Any]) -> str:
    likelihood = f", {info['likelihood']} likelihood" if info.get("likelihood") else ""
    line = (f"training {info['model']} ({info['parameters']:,} parameters{likelihood}) on {info['train_images']:,} "
            f"training images, {info['test_images']:,} test images; device {info['device']}; "
            f"{_count(info['epochs'], 'epoch')} ({_count(info['steps'], 'step')}) of batch {info['batch_size']}, "
            f"lr {info['lr']:g}")
    if info.get("start_step"):
        line += f"; resuming at step {info['start_step']:,}"
    if info.get("max_steps"):
        line += f"; stopping at step {info['max_steps']:,}"
    return line


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _figures(values: dict[str, Any], keys: tuple[str, ...] | None = None) -> str:
    chosen = [k for k in (keys or values) if isinstance(values.get(k), (int, float))]
    return ", ".join(f"{k} {values[k]:.4g}" for k in chosen)


def _train_figures(train: dict[str, Any]) -> str:
    """The losses (every player's for adversarial models), else all figures."""
    losses = tuple(k for k in train if k.endswith("loss"))
    return _figures(train, losses or None)


def _epoch(info: dict[str, Any]) -> str:
    line = f"epoch {info['epoch']}/{info['epochs']}, step {info['step']:,}: train {_train_figures(info['train'])}"
    if info.get("test"):
        line += f"; test {_figures(info['test'], EPOCH_FIGURES) or _figures(info['test'])}"
    return line + f" ({info['seconds']:.1f} s)"


def _warning(info: dict[str, Any]) -> str:
    if info.get("warning") == "posterior_collapse":
        return (f"warning: posterior collapse: the KL stayed at {info['kl']:.3g} nats/image over epoch "
                f"{info['epoch']}, "
                "so the latents carry almost nothing about the images. Try model.free_bits (e.g. 0.25), a KL "
                "warm-up (model.kl_warmup_steps), a lower beta, or a likelihood that keeps colour (logistic); "
                "see docs/training.md.")
    return f"warning: {info}"


def _stopped(info: dict[str, Any]) -> str:
    line = f"stopped at step {info['step']:,} of {info['total_steps']:,} (train.max_steps)"
    if info.get("train"):
        line += f"; last training figures: {_train_figures(info['train'])}"
    if info.get("test"):
        line += f"; last test figures: {_figures(info['test'], EPOCH_FIGURES)}"
    return line + f". The checkpoint is in {info['checkpoint']}; continue with --resume."


FORMATTERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "start": _start, "epoch": _epoch, "warning": _warning, "stopped": _stopped,
}
