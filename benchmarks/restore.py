"""Restoration on small images: every classical method on the same degraded images (fixed seed), whole-image
PSNR and SSIM and seconds per image, per task and data set.

Tasks: Gaussian noise σ = 25/255 and 50/255 (clipped to [0, 1]); inpainting a centred 14×14 box and 50% random
missing pixels; ×2 and ×4 super-resolution from area downsampling. Degradations come from
``latentforge.jobs.restore.operators`` (the same code the models will train on). Data: the first ``--images`` test
images of Fashion-MNIST and MNIST; settings a method needs (TV weight, NL-means h) are chosen on the first 200
*training* images, never on the reported ones.

Baselines: scikit-image ``denoise_nl_means`` (σ estimated and oracle), ``denoise_tv_chambolle``, ``denoise_wavelet``,
``inpaint_biharmonic``; OpenCV ``inpaint`` (Telea, Navier–Stokes) and BM3D (oracle σ) when installed
(``pip install -e .[bench]``; BM3D's licence is non-commercial, so it is a benchmark extra only); Pillow bicubic
and Lanczos upscaling. The dedicated models and projection onto a generative model (issue 21) join as rows
when they exist; until then the summary's gains are null.

    python benchmarks/restore.py --data-dir DIR            # writes benchmarks/results/restore.json and docs/
    python benchmarks/restore.py --data-dir DIR --quick    # 20 images, output in a temp folder
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import common

NAME = "restore"
DATASETS = ("fashion-mnist", "mnist")
VALIDATION_IMAGES = 200
TV_WEIGHTS = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3)
NLM_H = (0.6, 0.8, 1.0, 1.2)  # h = factor × σ


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=None, help="folder holding fashion-mnist/ and mnist/")
    p.add_argument("--images", type=int, default=None, help="test images per data set (default 1000; quick 20)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="smoke check: 20 images, output in a temp folder")
    common.add_output_arguments(p)
    args = p.parse_args(argv)
    common.fill_mode_defaults(args, {"images": (1000, 20)})
    common.check_minimums(p, args, {"images": 1})
    return args


def optional(module: str):
    try:
        return __import__(module)
    except ImportError:
        return None


def psnr(x: np.ndarray, y: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / max(np.mean((x - y) ** 2), 1e-12)))


def ssim(x: np.ndarray, y: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    return float(structural_similarity(x, y, data_range=1.0))


# -- the methods: (degraded H×W, context) -> restored H×W, all floats in [0, 1] ----------------------------
def denoisers(sigma: float, tv_weight: float, nlm_h: float) -> dict[str, Callable]:
    from skimage.restoration import denoise_nl_means, denoise_tv_chambolle, denoise_wavelet, estimate_sigma

    nlm = dict(patch_size=3, patch_distance=5, fast_mode=False)
    methods = {
        "nl_means (σ estimated)": lambda y, _: denoise_nl_means(y, h=nlm_h * max(float(estimate_sigma(y)), 1e-3),
                                                                 sigma=float(estimate_sigma(y)), **nlm),
        "nl_means (oracle σ)": lambda y, _: denoise_nl_means(y, h=nlm_h * sigma, sigma=sigma, **nlm),
        "tv_chambolle": lambda y, _: denoise_tv_chambolle(y, weight=tv_weight),
        "wavelet (BayesShrink)": lambda y, _: denoise_wavelet(y, method="BayesShrink", mode="soft",
                                                              rescale_sigma=True),
    }
    bm3d = optional("bm3d")
    if bm3d is not None:
        methods["bm3d (oracle σ)"] = lambda y, _: bm3d.bm3d(y, sigma)
    return methods


def inpainters() -> dict[str, Callable]:
    from skimage.restoration import inpaint_biharmonic

    methods = {"biharmonic": lambda y, known: inpaint_biharmonic(y, ~known)}
    cv2 = optional("cv2")
    if cv2 is not None:
        for label, flag in (("opencv telea", cv2.INPAINT_TELEA), ("opencv navier-stokes", cv2.INPAINT_NS)):
            methods[label] = (lambda f: lambda y, known: cv2.inpaint(
                np.round(y * 255).astype(np.uint8), (~known).astype(np.uint8) * 255, 3, f).astype(np.float64) / 255
                              )(flag)
    return methods


def upscalers(factor: int) -> dict[str, Callable]:
    from PIL import Image

    def resize(resample):
        def run(y, _):
            im = Image.fromarray(y.astype(np.float32), mode="F")
            return np.asarray(im.resize((y.shape[1] * factor, y.shape[0] * factor), resample), dtype=np.float64)
        return run

    return {"bicubic": resize(Image.Resampling.BICUBIC), "lanczos": resize(Image.Resampling.LANCZOS)}


# -- the tasks -----------------------------------------------------------------------------------------
def degrade(task: str, images, seed: int):
    """(degraded images N×H×W numpy, per-image context such as the known mask, ground truth N×H×W)."""
    import torch

    from latentforge.nn import degradations as ops

    g = torch.Generator().manual_seed(seed)
    n, _, h, w = images.shape
    clean = images[:, 0].double().numpy()
    if task.startswith("denoise"):
        noisy, _ = ops.gaussian_noise(images, int(task[len("denoise"):]) / 255, generator=g)
        return noisy[:, 0].double().numpy(), [None] * n, clean
    if task == "inpaint_box":
        known = ops.centred_box_mask(h, w, 14).expand(n, 1, h, w)
    elif task == "inpaint_random50":
        known = ops.random_pixel_mask(n, h, w, 0.5, generator=g)
    else:
        factor = int(task[len("sr"):])
        return ops.downsample(images, factor)[:, 0].double().numpy(), [None] * n, clean
    masked = ops.apply_mask(images, known)[:, 0].double().numpy()
    return masked, list(known[:, 0].numpy()), clean


def methods_for(task: str, settings: dict[str, float]) -> dict[str, Callable]:
    if task.startswith("denoise"):
        sigma = int(task[len("denoise"):]) / 255
        return denoisers(sigma, settings[f"{task}_tv_weight"], settings[f"{task}_nlm_h"])
    if task.startswith("inpaint"):
        return inpainters()
    return upscalers(int(task[len("sr"):]))


TASKS = ("denoise25", "denoise50", "inpaint_box", "inpaint_random50", "sr2", "sr4")


def choose_settings(validation, seed: int) -> dict[str, float]:
    """TV weight and NL-means h per noise level, by mean PSNR on the validation images."""
    from skimage.restoration import denoise_nl_means, denoise_tv_chambolle

    settings = {}
    for task in ("denoise25", "denoise50"):
        sigma = int(task[len("denoise"):]) / 255
        noisy, _, clean = degrade(task, validation, seed + 1)
        score = {wt: np.mean([psnr(denoise_tv_chambolle(y, weight=wt), x) for y, x in zip(noisy, clean)])
                 for wt in TV_WEIGHTS}
        settings[f"{task}_tv_weight"] = max(score, key=score.get)
        score = {h: np.mean([psnr(denoise_nl_means(y, h=h * sigma, sigma=sigma, patch_size=3, patch_distance=5),
                                  x) for y, x in zip(noisy[:50], clean[:50])]) for h in NLM_H}
        settings[f"{task}_nlm_h"] = max(score, key=score.get)
    return settings


def run_task(dataset: str, task: str, images, settings: dict[str, float], seed: int) -> list[dict[str, Any]]:
    degraded, context, clean = degrade(task, images, seed)
    rows = []
    for method, restore in methods_for(task, settings).items():
        start = time.perf_counter()
        restored = [np.clip(restore(y, c), 0, 1) for y, c in zip(degraded, context)]
        seconds = (time.perf_counter() - start) / len(restored)
        if task.startswith("inpaint"):  # known pixels are kept exactly, for every method
            restored = [np.where(c, y, r) for y, c, r in zip(degraded, context, restored)]
        rows.append({"data": dataset, "task": task, "method": method, "kind": "classical",
                     "psnr": float(np.mean([psnr(r, x) for r, x in zip(restored, clean)])),
                     "ssim": float(np.mean([ssim(r, x) for r, x in zip(restored, clean)])),
                     "seconds_per_image": seconds, "images": len(restored)})
        print(f"{dataset} {task} {method}: {rows[-1]['psnr']:.2f} dB, {seconds * 1000:.1f} ms/image", flush=True)
    return rows


def best_classical(rows: list[dict[str, Any]], data: str, task: str) -> dict[str, Any]:
    return max((r for r in rows if r["data"] == data and r["task"] == task and r["kind"] == "classical"),
               key=lambda r: r["psnr"])


def render(result: dict[str, Any]) -> str:
    s = result["summary"]
    lines = ["## Restoration on small images (`benchmarks/restore.py`)", "",
             f"The first {result['setup']['images']} test images of each data set, degraded with a fixed seed; "
             "PSNR and SSIM over whole images (inpainting keeps the known pixels). Best classical method per "
             "task on Fashion-MNIST: " + ", ".join(f"{t} {s['best_classical'][t]['method']} "
                                                    f"{s['best_classical'][t]['psnr']:.2f} dB" for t in TASKS) + ".",
             f"Settings chosen on {VALIDATION_IMAGES} training images: {result['setup']['settings']}.",
             "The dedicated models and projection onto a generative model (issue 21) are not in this run yet, so "
             "the gains over the best classical method are null.", "",
             common.markdown_table(result["rows"], ["data", "task", "method", "psnr", "ssim", "seconds_per_image"]),
             "", common.provenance_markdown(result)]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    results_dir, docs, _ = common.output_places(args)
    if args.docs_only:
        return common.rebuild_docs_section(NAME, render, results_dir, docs)
    from latentforge.data import load_dataset, to_float

    rows: list[dict[str, Any]] = []
    settings = {}
    for dataset in DATASETS:
        test = to_float(load_dataset(dataset, "test", data_dir=args.data_dir).images[:args.images])
        validation = to_float(load_dataset(dataset, "train", data_dir=args.data_dir).images[:VALIDATION_IMAGES])
        settings[dataset] = choose_settings(validation, args.seed)
        for task in TASKS:
            rows += run_task(dataset, task, test, settings[dataset], args.seed)
    best = {task: best_classical(rows, "fashion-mnist", task) for task in TASKS}
    summary = {"inpaint_box_gain_db": None, "denoise50_gain_db": None, "sr4_gain_db": None,
               "photo_denoise25_psnr": None, "photo_denoise25_bm3d_psnr": None,
               "photo_denoise25_speedup_vs_bm3d": None,
               "best_classical": {t: {"method": r["method"], "psnr": r["psnr"]} for t, r in best.items()},
               "bm3d_installed": optional("bm3d") is not None, "opencv_installed": optional("cv2") is not None}
    result = common.make_result(NAME, summary=summary, rows=rows, threads=1)
    result["setup"] = {"images": args.images, "seed": args.seed, "data_dir": args.data_dir, "settings": settings,
                       "validation": f"the first {VALIDATION_IMAGES} training images of each data set"}
    common.publish(NAME, result, render, results_dir, docs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
