"""Restoration: every method in the same run on the same degraded images (fixed seed), whole-image PSNR and SSIM
and seconds per image, per task and data set, with a picture per task.

Small images: the first ``--images`` test images of Fashion-MNIST and MNIST. Tasks: Gaussian noise σ = 25/255
and 50/255 (clipped to [0, 1]); inpainting a centred 14×14 box and 50% random missing pixels; ×2 and ×4
super-resolution from area downsampling. Degradations come from ``latentforge.nn.degradations`` (the code the
models train on). Settings a method needs (TV weight, NL-means h, projection's prior weight) are chosen on the
first 200 *training* images (projection's on the first 50), never on the reported ones.

Photo track (``restore_photos.py``): grey and colour photos of their own sizes (scikit-image's bundled pictures)
and grey CIFAR-10 test images at σ = 25/255 and 50/255 (colour BM3D is CBM3D; our grey denoiser takes colour
one channel at a time), and colourisation of colour photos and CIFAR-10 test images.

Methods: the classical ones of ``restore_classical.py``; ours, through the public API: the dedicated models
found under ``--models DIR`` (``DIR/<data>/<model>/``, a saved model or a run folder holding ``model/``; data
``fashion-mnist``, ``mnist``, ``photos`` (grey photo denoiser) and ``cifar10`` (colorizer); models
``denoiser``, ``inpainter``, ``super-resolver``, ``colorizer``) and projection onto a VAE (``DIR/<data>/vae``,
Bora et al. 2017). All methods run on one CPU thread.

    python benchmarks/restore.py --data-dir DIR --models ~/lf-runs/restore   # results/restore.json and docs/
    python benchmarks/restore.py --data-dir DIR --quick                      # 20 images, output in a temp folder
    python benchmarks/restore.py --data-dir DIR --models M --photo-denoising-only   # a new photo denoiser only
"""

from __future__ import annotations

import argparse
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import restore_classical as classical
import restore_photos as photos

import common

NAME = "restore"
DATASETS = ("fashion-mnist", "mnist")
TASKS = ("denoise25", "denoise50", "inpaint_box", "inpaint_random50", "sr2", "sr4")
PHOTO_TASKS = ("denoise25", "denoise50")
VALIDATION_IMAGES = 200
PROJECTION_VALIDATION = 50  # projection is slow: its λ is chosen on the first 50 of them
PRIOR_WEIGHTS = (0.0, 0.01, 0.1)  # projection: λ of λ‖z‖²/d, chosen per task on validation images
FIGURE_IMAGES = 8
FIGURES = common.ROOT / "docs" / "images" / "restore"
TASK_MODEL = {"denoise": "denoiser", "inpaint": "inpainter", "sr": "super-resolver"}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=None, help="folder holding fashion-mnist/, mnist/ and cifar10/")
    p.add_argument("--models", type=Path, default=None, help="folder of our trained models (see above)")
    p.add_argument("--images", type=int, default=None, help="test images per data set (default 1000; quick 20)")
    p.add_argument("--cifar-images", type=int, default=None, help="CIFAR-10 test images in the photo track "
                   "(default 200; quick 4)")
    p.add_argument("--projection-steps", type=int, default=None, help="Adam steps of projection (default 300)")
    p.add_argument("--no-photos", action="store_true", help="skip the photo track")
    p.add_argument("--photo-denoising-only", action="store_true",
                   help="re-run only the photo track's denoising (every method, e.g. for a new photo denoiser) and "
                        "carry every other row, figure and model fact over from the saved results file; the result "
                        "names the run they came from")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="smoke check: 20 images, output in a temp folder")
    common.add_output_arguments(p)
    args = p.parse_args(argv)
    common.fill_mode_defaults(args, {"images": (1000, 20), "cifar_images": (200, 4), "projection_steps": (300, 20)})
    common.check_minimums(p, args, {"images": 1, "cifar_images": 1, "projection_steps": 1})
    return args


# -- degradations ---------------------------------------------------------------------------------------
def sigma_of(task: str) -> float:
    return int(task[len("denoise"):]) / 255


def degrade(task: str, images, seed: int):
    """(degraded N×C×h×w tensor, known mask N×1×H×W or None, clean N×C×H×W tensor) for float images."""
    import torch

    from latentforge.nn import degradations as ops

    g = torch.Generator().manual_seed(seed)
    n, _, h, w = images.shape
    if task.startswith("denoise"):
        return ops.gaussian_noise(images, sigma_of(task), generator=g)[0], None, images
    if task.startswith("sr"):
        return ops.downsample(images, int(task[len("sr"):])), None, images
    known = ops.centred_box_mask(h, w, 14).expand(n, 1, h, w) if task == "inpaint_box" else \
        ops.random_pixel_mask(n, h, w, 0.5, generator=g)
    return ops.apply_mask(images, known), known, images


def to_numpy(image) -> np.ndarray:
    """C×H×W tensor → H×W (grey) or H×W×3 float64."""
    array = image.double().numpy()
    return array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)


def to_tensor(array: np.ndarray):
    import torch

    array = np.asarray(array, dtype=np.float32)
    return torch.from_numpy(array[None] if array.ndim == 2 else array.transpose(2, 0, 1).copy())


# -- the methods -----------------------------------------------------------------------------------------
def classical_methods(task: str, settings: dict[str, float], nlm: dict | None = None) -> dict[str, Callable]:
    if task.startswith("denoise"):
        key = f"{sigma_of(task) * 255:.0f}"
        return classical.denoisers(sigma_of(task), settings[f"{key}_tv_weight"], settings[f"{key}_nlm_h"], nlm)
    if task.startswith("inpaint"):
        return classical.inpainters()
    return classical.upscalers(int(task[len("sr"):]))


MODEL_DIRS: dict[Any, Path] = {}  # where each loaded model came from (its training record is there)


def model_folder(models_dir: Path | None, data: str, name: str) -> Path | None:
    """``models_dir/data/name`` when it holds a saved model (or a run folder with ``model/``), else None."""
    if models_dir is None:
        return None
    folder = models_dir / data / name
    return folder if (folder / "model").is_dir() or (folder / "config.json").is_file() else None


def find_model(models_dir: Path | None, data: str, name: str):
    """Our saved model ``models_dir/data/name`` (or its ``model/``), loaded; None when there is none."""
    import latentforge as lf

    folder = model_folder(models_dir, data, name)
    if folder is None:
        return None
    model = lf.load(folder)
    MODEL_DIRS[model] = folder
    return model


def restore_with(model, task: str, degraded, known, method: str, **options):
    """Our restoration of a batch through the public API."""
    import latentforge as lf

    if task.startswith("denoise"):
        return lf.denoise(model, degraded, sigma_of(task), method=method, **options).images
    if task.startswith("inpaint"):
        return lf.inpaint(model, degraded, known, method=method, **options).images
    return lf.upscale(model, degraded, int(task[len("sr"):]), method=method, **options).images


def label(model, data: str, what: str) -> str:
    """A row's method name for our model, saying what it was trained on when that is another data set."""
    import latentforge as lf

    trained_on = (lf.api.training_record(MODEL_DIRS[model]).get("data") or {}).get("name")
    return f"ours: {what}" + (f" (trained on {trained_on})" if trained_on and trained_on != data else "")


def our_methods(task: str, data: str, models: dict[str, Any], prior_weights: dict[str, float], steps: int
                ) -> dict[str, Callable]:
    """label → fn(degraded batch, known) for our dedicated model and projection onto the VAE, where present."""
    methods = {}
    dedicated = models.get(TASK_MODEL[task.rstrip("0123456789").split("_")[0]])
    if dedicated is not None:
        methods[label(dedicated, data, dedicated.name)] = lambda y, known: restore_with(
            dedicated, task, y, known, "model", progress=False)
    vae = models.get("vae")
    if vae is not None:
        methods[label(vae, data, f"projection onto {vae.name}")] = lambda y, known: restore_with(
            vae, task, y, known, "projection", steps=steps, prior_weight=prior_weights.get(task, 0.01))
    return methods


def choose_prior_weights(vae, validation, steps: int, seed: int) -> dict[str, float]:
    """Projection's prior weight per task, by mean PSNR on validation images."""
    from latentforge.metrics.reconstruction import psnr

    chosen = {}
    for task in TASKS:
        degraded, known, clean = degrade(task, validation, seed + 1)
        score = {lam: float(psnr(restore_with(vae, task, degraded, known, "projection", steps=steps,
                                              prior_weight=lam), clean).mean()) for lam in PRIOR_WEIGHTS}
        chosen[task] = max(score, key=score.get)
        print(f"projection {task}: prior weight {chosen[task]} (validation PSNR {score})", flush=True)
    return chosen


# -- measuring -------------------------------------------------------------------------------------------
def score_row(data: str, task: str, method: str, kind: str, restored, clean, seconds: float) -> dict[str, Any]:
    pairs = [(to_numpy(r), to_numpy(x)) for r, x in zip(restored, clean)]
    return {"data": data, "task": task, "method": method, "kind": kind,
            "psnr": float(np.mean([classical.psnr(r, x) for r, x in pairs])),
            "ssim": float(np.mean([classical.ssim(r, x) for r, x in pairs])),
            "seconds_per_image": seconds / len(pairs), "images": len(pairs)}


def run_classical(method: Callable, degraded, known):
    import torch

    start = time.perf_counter()
    contexts = [None] * len(degraded) if known is None else [k[0].numpy() for k in known]
    restored = [np.clip(method(to_numpy(y), c), 0, 1) for y, c in zip(degraded, contexts)]
    if known is not None:  # known pixels are kept exactly, for every method
        restored = [np.where(c, to_numpy(y), r) for y, c, r in zip(degraded, contexts, restored)]
    return torch.stack([to_tensor(r) for r in restored]), time.perf_counter() - start


def run_ours(method: Callable, degraded, known, batch: int = 250):
    import torch

    start = time.perf_counter()
    parts = [method(degraded[i: i + batch], None if known is None else known[i: i + batch])
             for i in range(0, len(degraded), batch)]
    return torch.cat(parts).clamp(0, 1), time.perf_counter() - start


def run_task(data: str, task: str, images, settings, models, prior_weights, args) -> tuple[list, dict]:
    degraded, known, clean = degrade(task, images, args.seed)
    rows, shown = [], {}
    methods = [(m, f, "classical", run_classical) for m, f in classical_methods(task, settings).items()]
    methods += [(m, f, "ours", run_ours) for m, f in our_methods(task, data, models, prior_weights,
                                                                 args.projection_steps).items()]
    for method_name, method, kind, runner in methods:
        restored, seconds = runner(method, degraded, known)
        rows.append(score_row(data, task, method_name, kind, restored, clean, seconds))
        shown[method_name] = restored[:FIGURE_IMAGES]
        print(f"{data} {task} {method_name}: {rows[-1]['psnr']:.2f} dB, {rows[-1]['seconds_per_image'] * 1000:.2f} "
              "ms/image", flush=True)
    return rows, {"input": degraded[:FIGURE_IMAGES], **shown, "ground truth": clean[:FIGURE_IMAGES]}


def save_figure(panels: dict[str, Any], path: Path, scale: int = 2) -> str:
    """One row per panel (input, each method, ground truth), inputs of another size resized to fit."""
    import torch
    import torch.nn.functional as F
    from matplotlib import font_manager
    from PIL import Image, ImageDraw, ImageFont

    from latentforge.data import make_grid

    size = panels["ground truth"].shape[-2:]
    rows = []
    for images in panels.values():
        images = images.float()
        if images.shape[-2:] != size:
            images = F.interpolate(images, size=tuple(size), mode="nearest")
        if images.shape[1] != panels["ground truth"].shape[1]:
            images = images.expand(-1, panels["ground truth"].shape[1], -1, -1)
        rows.append(images)
    grid = make_grid(torch.cat(rows), nrow=len(rows[0]))
    label_width = 190
    canvas = Image.new("RGB", (grid.shape[1] * scale + label_width, grid.shape[0] * scale), "white")
    canvas.paste(Image.fromarray(grid.squeeze(-1) if grid.shape[-1] == 1 else grid).convert("RGB").resize(
        (grid.shape[1] * scale, grid.shape[0] * scale), Image.Resampling.NEAREST), (label_width, 0))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.truetype(font_manager.findfont("DejaVu Sans"), 11)  # PIL's own font has no σ
    step = grid.shape[0] * scale / len(rows)
    for i, label in enumerate(panels):
        lines = textwrap.wrap(label, 30)[:3]
        draw.multiline_text((4, i * step + step / 2 - 7 * len(lines)), "\n".join(lines), fill="black", font=font)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    docs = common.DOCS_PATH.parent
    return str(path.relative_to(docs)) if path.is_relative_to(docs) else str(path)


# -- the small-image track --------------------------------------------------------------------------------
def small_image_track(args, figures: Path) -> tuple[list, dict, dict]:
    from latentforge.data import load_dataset, to_float

    rows, settings, prior_weights, pictures = [], {}, {}, {}
    for data in DATASETS:
        test = to_float(load_dataset(data, "test", data_dir=args.data_dir).images[:args.images])
        validation = to_float(load_dataset(data, "train", data_dir=args.data_dir).images[:VALIDATION_IMAGES])
        pairs = {}
        for task in ("denoise25", "denoise50"):
            noisy, _, clean = degrade(task, validation, args.seed + 1)
            pairs[sigma_of(task)] = ([to_numpy(y) for y in noisy], [to_numpy(x) for x in clean])
        settings[data] = classical.choose_settings(pairs)
        models = {name: find_model(args.models, data, name) for name in (*TASK_MODEL.values(), "vae")}
        models = {name: model for name, model in models.items() if model is not None}
        if "vae" in models:
            prior_weights[data] = choose_prior_weights(models["vae"], validation[:PROJECTION_VALIDATION],
                                                       args.projection_steps, args.seed)
        for task in TASKS:
            task_rows, panels = run_task(data, task, test, settings[data], models, prior_weights.get(data, {}), args)
            rows += task_rows
            pictures[f"{data} {task}"] = save_figure(panels, figures / f"{data}_{task}.png")
    return rows, {"classical": settings, "projection_prior_weight": prior_weights}, pictures


# -- the photo track --------------------------------------------------------------------------------------
def photo_denoiser(model, task: str) -> Callable:
    """Our grey photo denoiser; colour images go through it one channel at a time."""
    def run(y, _):
        n, c, h, w = y.shape
        return restore_with(model, task, y.reshape(n * c, 1, h, w), None, "model", progress=False).view(n, c, h, w)
    return run


def photo_track(args, figures: Path, colourise: bool = True) -> tuple[list, list, dict, dict]:
    """Per-image rows and their summaries for grey denoising and (with ``colourise``) colourisation."""
    import torch

    per_image, pictures = [], {}
    validation = photos.validation_photos()
    pairs = {}
    for task in PHOTO_TASKS:
        noisy = [to_numpy(degrade(task, to_tensor(v)[None].float(), args.seed + 1)[0][0]) for v in validation]
        pairs[sigma_of(task)] = (noisy, validation)
    settings = classical.choose_settings(pairs, classical.NLM_PHOTO, nlm_images=len(validation))
    denoiser = find_model(args.models, "photos", "denoiser")
    sets = {"grey photos": photos.grey_photos(), "colour photos": photos.colour_photos(),
            "cifar10 grey": photos.cifar_test(args.cifar_images, args.data_dir, grey=True)}
    for data, images in sets.items():
        for task in PHOTO_TASKS:
            methods = [(m, f, "classical", run_classical)
                       for m, f in classical_methods(task, settings, classical.NLM_PHOTO).items()]
            if denoiser is not None:
                what = denoiser.name + (" per channel" if data == "colour photos" else "")
                methods.append((label(denoiser, data, what), photo_denoiser(denoiser, task), "ours", run_ours))
            for name, image in images.items():
                clean = to_tensor(image)[None].float()
                degraded = degrade(task, clean, args.seed)[0]
                panels = {"input": degraded}
                for method_name, method, kind, runner in methods:
                    restored, seconds = runner(method, degraded, None)
                    row = score_row(data, task, method_name, kind, restored, clean, seconds)
                    per_image.append({**row, "image": name, "seconds": seconds, "height": image.shape[0],
                                      "width": image.shape[1]})
                    panels[method_name] = restored
                if name == "camera":
                    crop = {k: v[..., 192:320, 192:320] for k, v in {**panels, "ground truth": clean}.items()}
                    pictures[f"camera {task}"] = save_figure({k: torch.cat([v]) for k, v in crop.items()},
                                                             figures / f"photo_camera_{task}.png", scale=2)
            print(f"{data} {task}: done", flush=True)
    if colourise:
        per_image += colourisation_rows(args, figures, pictures)
    summaries = [s for data in dict.fromkeys(r["data"] for r in per_image)
                 for task in dict.fromkeys(r["task"] for r in per_image if r["data"] == data)
                 for s in photos.summarise(per_image, data, task)]
    return per_image, summaries, settings, pictures


def colourisation_rows(args, figures: Path, pictures: dict) -> list[dict[str, Any]]:
    """Colourisation of colour photos and CIFAR-10 test images: the grey input itself (no colour) beside ours."""
    import latentforge as lf
    from latentforge.nn.degradations import to_grey

    colorizer = find_model(args.models, "cifar10", "colorizer")
    rows = []
    sets = {"colour photos": photos.colour_photos(), "cifar10": photos.cifar_test(args.cifar_images, args.data_dir,
                                                                                 grey=False)}
    for data, images in sets.items():
        methods = {"grey (no colour)": lambda g: g.expand(-1, 3, -1, -1)}
        if colorizer is not None:
            methods[label(colorizer, data, "colorizer")] = lambda g: lf.colorize(colorizer, g, method="model",
                                                                                 progress=False).images
        shown = {"input": [], **{name: [] for name in methods}, "ground truth": []}
        for name, image in images.items():
            clean = to_tensor(image)[None].float()
            grey = to_grey(clean)
            for method_name, method in methods.items():
                start = time.perf_counter()
                restored = method(grey)
                seconds = time.perf_counter() - start
                kind = "ours" if method_name.startswith("ours") else "baseline"
                rows.append({**score_row(data, "colorize", method_name, kind, restored, clean, seconds),
                             "image": name, "seconds": seconds, "height": image.shape[0], "width": image.shape[1]})
                if len(shown["input"]) < FIGURE_IMAGES and data == "cifar10":
                    shown[method_name].append(restored)
            if len(shown["input"]) < FIGURE_IMAGES and data == "cifar10":
                shown["input"].append(grey)
                shown["ground truth"].append(clean)
        if data == "cifar10":
            import torch

            pictures["cifar10 colorize"] = save_figure({k: torch.cat(v) for k, v in shown.items()},
                                                       figures / "cifar10_colorize.png", scale=3)
    return rows


# -- the result -------------------------------------------------------------------------------------------
def best(rows, data: str, task: str, kind: str, method: str | None = None) -> dict[str, Any] | None:
    chosen = [r for r in rows if r["data"] == data and r["task"] == task and r["kind"] == kind
              and (method is None or r["method"] == method)]
    return max(chosen, key=lambda r: r["psnr"]) if chosen else None


def gain(rows, task: str) -> float | None:
    ours = best(rows, "fashion-mnist", task, "ours", f"ours: {TASK_MODEL[task.rstrip('0123456789').split('_')[0]]}")
    return None if ours is None else ours["psnr"] - best(rows, "fashion-mnist", task, "classical")["psnr"]


def model_facts() -> dict[str, Any]:
    """Size, training time, steps and config of each of our models in this run."""
    import latentforge as lf

    facts = {}
    for model, folder in MODEL_DIRS.items():
        record = lf.api.training_record(folder)
        facts[f"{folder.parent.name}/{folder.name}"] = {
            "model": model.name, "parameters": model.trained_parameter_count(), "steps": record.get("steps"),
            "training_seconds": record.get("train_seconds"), "trained_on": (record.get("data") or {}).get("name"),
            "config": model.config_dict()}
    return facts


def per_photo_rows(photo_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of the named photos, one per photo, task and method, for the results file. CIFAR-10's thousands
    of per-image rows stay out of it (its means are in the photo summary), so that the file stays readable."""
    return [{k: v for k, v in r.items() if k not in ("images", "seconds")}  # 1 and seconds_per_image, per photo
            for r in photo_rows if not r["data"].startswith("cifar10")]


def summary_of(rows, photo_summary) -> dict[str, Any]:
    tasks_best = {task: best(rows, "fashion-mnist", task, "classical") for task in TASKS}
    summary = {"inpaint_box_gain_db": gain(rows, "inpaint_box"), "denoise50_gain_db": gain(rows, "denoise50"),
               "sr4_gain_db": gain(rows, "sr4"),
               "photo_denoise25_psnr": None, "photo_denoise25_bm3d_psnr": None,
               "photo_denoise25_speedup_vs_bm3d": None,
               "best_classical": {t: {"method": r["method"], "psnr": r["psnr"]} for t, r in tasks_best.items()},
               "bm3d_installed": classical.optional("bm3d") is not None,
               "opencv_installed": classical.optional("cv2") is not None}
    ours = next((s for s in photo_summary if s["data"] == "grey photos" and s["task"] == "denoise25"
                 and s["kind"] == "ours"), None)
    bm3d = next((s for s in photo_summary if s["data"] == "grey photos" and s["task"] == "denoise25"
                 and s["method"].startswith("bm3d")), None)
    if bm3d is not None:
        summary["photo_denoise25_bm3d_psnr"] = bm3d["psnr"]
    if ours is not None:
        summary["photo_denoise25_psnr"] = ours["psnr"]
        if bm3d is not None:
            summary["photo_denoise25_speedup_vs_bm3d"] = bm3d["seconds_per_image"] / ours["seconds_per_image"]
    return summary


def settings_text(settings: dict[str, Any]) -> str:
    """The chosen settings in words: TV weight and NL-means h (× σ) per σ, and projection's prior weight λ."""
    chosen = {**settings.get("classical", {}), **({"photos": settings["photos"]} if settings.get("photos") else {})}
    parts = []
    for data, values in chosen.items():
        sigmas = sorted({key.split("_")[0] for key in values}, key=int)
        tv = " / ".join(f"{values[f'{s}_tv_weight']:g}" for s in sigmas)
        h = " / ".join(f"{values[f'{s}_nlm_h']:g}σ" for s in sigmas)
        parts.append(f"{data}: TV weight {tv}, NL-means h {h} (σ = {' / '.join(sigmas)})")
    for data, weights in settings.get("projection_prior_weight", {}).items():
        parts.append(f"{data} projection λ: " + ", ".join(f"{task} {w:g}" for task, w in weights.items()))
    return "; ".join(parts)


def threads_note(setup: dict[str, Any]) -> str:
    if setup.get("bm3d_threads") == 1:
        return "All methods on one CPU thread."
    return ("All methods on one CPU thread except BM3D, which ran with its package's default thread count (all "
            "cores) in this run, so its seconds per image are up to that many times lower than on one thread.")


def render(result: dict[str, Any]) -> str:
    s, setup = result["summary"], result["setup"]
    columns = ["data", "task", "method", "psnr", "ssim", "seconds_per_image"]
    fmt = lambda v: "not measured" if v is None else f"{v:+.2f} dB"
    lines = ["## Restoration (`benchmarks/restore.py`)", "",
             f"Small images: the first {setup['images']} test images of each data set, degraded with a fixed seed; "
             "PSNR and SSIM over whole images (inpainting keeps the known pixels for every method). Settings "
             f"chosen on {VALIDATION_IMAGES} training images (projection's λ on the first {PROJECTION_VALIDATION}; "
             "photos: on the validation photos) — "
             f"{settings_text(setup['settings'])}. {threads_note(setup)}",
             "",
             "Fashion-MNIST, ours (dedicated model) minus the best classical method: centred box "
             f"{fmt(s['inpaint_box_gain_db'])}, σ = 50 {fmt(s['denoise50_gain_db'])}, ×4 {fmt(s['sr4_gain_db'])}.", ""]
    if s.get("photo_denoise25_psnr") is not None:
        lines += [f"Grey photos at σ = 25: ours {s['photo_denoise25_psnr']:.2f} dB, BM3D "
                  f"{s['photo_denoise25_bm3d_psnr']:.2f} dB, ours {s['photo_denoise25_speedup_vs_bm3d']:.1f}× faster "
                  "per photo.", ""]
    if setup.get("models"):
        lines += ["Our models:", "", common.markdown_table(
            [{"model": k, "parameters": v["parameters"], "training_hours": (v["training_seconds"] or 0) / 3600}
             for k, v in setup["models"].items()]), ""]
    lines += [common.markdown_table(result["rows"], columns), ""]
    if setup.get("photo_summary"):
        lines += ["Photo track (means over the images; the JSON's `setup.photo_rows` has a row per named photo, "
                  "CIFAR-10 only its means):", "",
                  common.markdown_table(setup["photo_summary"], columns), ""]
    lines += [f"![{name}]({path})" for name, path in setup.get("pictures", {}).items()]
    lines += ["", common.provenance_markdown(result)]
    if setup.get("carried_over"):
        kept = setup["carried_over"]
        lines += ["", f"This run measured the photo track's denoising only; the {kept['what']} are those of the run "
                  f"of {kept['date']} (`{kept['command']}`)."]
    return "\n".join(lines) + "\n"


def rerun_photo_denoising(args, figures: Path) -> dict[str, Any]:
    """The saved result with the photo track's denoising measured anew; the rest (small images, colourisation,
    their figures and models) is the saved run's, named in ``setup.carried_over``."""
    if model_folder(args.models, "photos", "denoiser") is None:
        raise SystemExit("--photo-denoising-only measures a new photo denoiser: pass --models DIR holding "
                         "DIR/photos/denoiser (a saved model or a run folder).")
    previous = common.read_result(NAME)
    setup = previous["setup"]
    photo_rows, photo_summary, photo_settings, pictures = photo_track(args, figures, colourise=False)
    photo_rows += [r for r in setup["photo_rows"] if r["task"] == "colorize"]
    photo_summary += [s for s in setup["photo_summary"] if s["task"] == "colorize"]
    result = common.make_result(NAME, summary=summary_of(previous["rows"], photo_summary), rows=previous["rows"],
                                threads=1)
    result["setup"] = {**setup, "settings": {**setup["settings"], "photos": photo_settings},
                       "models": {**setup["models"], **model_facts()},
                       "pictures": {**setup["pictures"], **pictures}, "bm3d_threads": classical.BM3D_THREADS,
                       "photo_summary": photo_summary, "photo_rows": per_photo_rows(photo_rows),
                       "carried_over": {"what": "small-image track, colourisation, their figures and models",
                                        "date": previous["date"], "command": previous["command"]}}
    return result


def main(argv=None) -> int:
    args = parse_args(argv)
    results_dir, docs, scratch = common.places_or_docs_only(NAME, render, args)
    import torch

    torch.set_num_threads(1)
    classical.one_thread()
    figures = FIGURES if scratch is None else scratch / "images"
    if args.photo_denoising_only:
        common.publish(NAME, rerun_photo_denoising(args, figures), render, results_dir, docs)
        return 0
    rows, settings, pictures = small_image_track(args, figures)
    photo_rows, photo_summary = [], []
    if not args.no_photos:
        photo_rows, photo_summary, settings["photos"], photo_pictures = photo_track(args, figures)
        pictures.update(photo_pictures)
    result = common.make_result(NAME, summary=summary_of(rows, photo_summary), rows=rows, threads=1)
    result["setup"] = {"images": args.images, "cifar_images": args.cifar_images, "seed": args.seed,
                       "data_dir": args.data_dir, "settings": settings, "models": model_facts(),
                       "projection_steps": args.projection_steps, "pictures": pictures,
                       "bm3d_threads": classical.BM3D_THREADS,
                       "validation": f"the first {VALIDATION_IMAGES} training images of each data set; photos: "
                                     f"{', '.join(photos.VALIDATION_PHOTOS)}",
                       "photo_summary": photo_summary, "photo_rows": per_photo_rows(photo_rows)}
    common.publish(NAME, result, render, results_dir, docs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
