"""A training report a person can open: sample grid, reconstructions, interpolations, curves, metrics."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import torch
import yaml

from ..data import ImageDataset, save_grid, to_float
from ..io import atomic_write_bytes, atomic_write_json
from ..models import Capability, GenerativeModel
from .edit import interpolate
from .generate import generate
from .reconstruct import reconstruct


def _scale_for(model: GenerativeModel) -> int:
    return max(1, 96 // model.image_shape[-1])  # small images are upscaled so a digit is visible


def write_report(model: GenerativeModel, test_data: ImageDataset, history: list[dict[str, Any]],
                 metrics: dict[str, Any], out: str | Path, *, title: str = "latentforge report",
                 info: dict[str, Any] | None = None, config: dict[str, Any] | None = None, seed: int = 0) -> Path:
    """Write PNGs, ``metrics.json`` and ``report.html`` into ``out``; returns the HTML path.

    ``config`` (the run's settings) is shown as a YAML block. A figure the test split is too small for
    (fewer than 2 images for an interpolation) is left out with a note.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    scale = _scale_for(model)
    figures: list[tuple[str, str]] = []
    notes: list[str] = []
    images = to_float(test_data.images[:32])

    if Capability.GENERATE in model.capabilities:
        save_grid(generate(model, 64, seed=seed), out / "samples.png", nrow=8, scale=scale)
        figures.append(("samples.png", "Samples from the prior (seed 0, temperature 1)"))
    if Capability.RECONSTRUCT in model.capabilities:
        if len(images):
            figures.append(_reconstructions(model, images, out / "reconstructions.png", scale))
        else:
            notes.append("No reconstructions: the test split holds no images.")
    if Capability.EDIT in model.capabilities:
        pairs = min(4, len(images) // 2)
        if pairs:
            strips = torch.cat([interpolate(model, images[2 * i], images[2 * i + 1], steps=10) for i in range(pairs)])
            save_grid(strips, out / "interpolation.png", nrow=10, scale=scale)
            figures.append(("interpolation.png", "Spherical interpolation between pairs of test images"))
        else:
            notes.append(f"No interpolation: it needs 2 test images, the test split holds {len(images)}.")
    if history:
        plot_curves(history, out / "curves.png")
        figures.append(("curves.png", "Training curves"))

    atomic_write_json(out / "metrics.json", {"test": metrics, **(info or {}), **({"config": config} if config else {}),
                                             **({"notes": notes} if notes else {})})
    page = _html(title, info or {}, metrics, figures, config, notes)
    atomic_write_bytes(out / "report.html", page.encode())
    return out / "report.html"


def _reconstructions(model: GenerativeModel, images: torch.Tensor, path: Path, scale: int) -> tuple[str, str]:
    """Rows of up to 8 test images, each above its reconstruction (whole rows only)."""
    width = min(8, len(images))
    images = images[: len(images) // width * width]
    recon, err = reconstruct(model, images)
    rows = torch.cat([torch.stack([images[i : i + width], recon[i : i + width]]).flatten(0, 1)
                      for i in range(0, len(images), width)])
    save_grid(rows, path, nrow=width, scale=scale)
    return (path.name, f"Test images (odd rows) and their reconstructions (even rows); "
                       f"mean PSNR {err['psnr'].mean():.2f} dB")


def plot_curves(history: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [r for r in history if r.get("event") == "train"]
    evals = [r for r in history if r.get("event") == "eval"]
    loss_keys = sorted({k for r in train for k in r if k.endswith("loss")}) or ["loss"]
    panels = [(k, "loss (nats/image)" if k == "loss" else k) for k in loss_keys]
    panels += [(k, k) for k in ("psnr", "kl") if any(k in r for r in history)]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2), squeeze=False)
    for ax, (key, label) in zip(axes[0], panels):
        t = [(r["step"], r[key]) for r in train if key in r]
        e = [(r["step"], r[key]) for r in evals if key in r]
        if t:
            ax.plot(*zip(*t), label="train", lw=1)
        if e:
            ax.plot(*zip(*e), "o-", label="test", ms=3)
        ax.set_xlabel("step")
        ax.set_title(label)
        ax.grid(alpha=0.3)
        if t or e:
            ax.legend()
        if key == "loss" and t:
            values = [v for _, v in t] + [v for _, v in e]
            ax.set_ylim(min(values) * 0.98, sorted(values)[int(0.9 * (len(values) - 1))] * 1.05)
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


class _ReadableDumper(yaml.SafeDumper):
    """Mappings as indented blocks, lists (shapes, channel lists) on one line: ``image_shape: [1, 28, 28]``."""


_ReadableDumper.add_representer(
    list, lambda dumper, data: dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True))


def yaml_block(values: Any) -> str:
    """Plain values as YAML text (tuples become lists), keys in their given order."""
    return yaml.dump(json.loads(json.dumps(values, default=str)), Dumper=_ReadableDumper, sort_keys=False,
                     allow_unicode=True, default_flow_style=False)


def _html(title: str, info: dict[str, Any], metrics: dict[str, Any], figures: list[tuple[str, str]],
          config: dict[str, Any] | None = None, notes: list[str] | None = None) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, (dict, list)):
            return f"<pre>{html.escape(yaml_block(v))}</pre>"
        return f"{v:.4g}" if isinstance(v, float) else html.escape(str(v))

    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{fmt(v)}</td></tr>" for k, v in info.items())
    mrows = "".join(f"<tr><th>{html.escape(k)}</th><td>{fmt(v)}</td></tr>" for k, v in metrics.items())
    config_html = f"<h2>Configuration</h2><pre>{html.escape(yaml_block(config))}</pre>" if config else ""
    notes_html = "".join(f"<p class=note>{html.escape(note)}</p>" for note in notes or [])
    figs = "".join(
        f'<figure><img src="{html.escape(src)}" alt="{html.escape(cap)}">'
        f"<figcaption>{html.escape(cap)}</figcaption></figure>"
        for src, cap in figures
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ padding: 4px 12px; border-bottom: 1px solid #ddd; text-align: left; }}
figure {{ display: inline-block; margin: 1em 1em 1em 0; vertical-align: top; }}
img {{ image-rendering: pixelated; max-width: 100%; border: 1px solid #ccc; }}
figcaption {{ font-size: 0.9em; color: #555; max-width: 520px; }}
pre {{ background: #f6f6f6; padding: 0.6em 1em; margin: 0; }} .note {{ color: #8a5300; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<h2>Run</h2><table>{rows}</table>
<h2>Test metrics</h2><p>Likelihood figures are in nats per image (lower loss is better); PSNR in dB.</p>
<table>{mrows}</table>
{config_html}
<h2>Figures</h2>{notes_html}{figs}
</body></html>
"""
