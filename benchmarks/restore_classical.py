"""The classical restoration methods of ``restore.py``: each maps one degraded H×W (or H×W×3) float image in
[0, 1] and its context (the known-pixel mask for inpainting) to the restored image.

scikit-image ``denoise_nl_means`` (σ estimated and oracle), ``denoise_tv_chambolle``, ``denoise_wavelet``,
``inpaint_biharmonic``; OpenCV ``inpaint`` (Telea, Navier–Stokes) and BM3D (oracle σ) when installed (``pip
install -e .[bench]``; BM3D's licence is non-commercial, so it is a benchmark extra only); Pillow bicubic and
Lanczos upscaling. The settings a method needs (TV weight, NL-means h) are chosen by :func:`choose_settings` on
validation images, never on the reported ones.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

TV_WEIGHTS = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3)
NLM_H = (0.4, 0.5, 0.6, 0.8, 1.0)  # h = factor × σ
NLM = {"patch_size": 3, "patch_distance": 5, "fast_mode": False}  # small images; photos use NLM_PHOTO
BM3D_THREADS = 1  # bm3d's own default (0) takes every core; the timings are per thread
NLM_PHOTO = {"patch_size": 5, "patch_distance": 6, "fast_mode": True}


def optional(module: str):
    try:
        return __import__(module)
    except ImportError:
        return None


def one_thread() -> None:
    """Hold every method to one CPU thread, as the timings claim: NumPy's BLAS and OpenMP pools (threadpoolctl
    reaches only libraries already loaded, so the optional ones are imported first) and OpenCV; BM3D's own
    threads are set in its profile (``BM3D_THREADS``)."""
    from threadpoolctl import threadpool_limits

    optional("bm3d")
    cv2 = optional("cv2")
    if cv2 is not None:
        cv2.setNumThreads(1)
    threadpool_limits(limits=1)


def psnr(x: np.ndarray, y: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / max(np.mean((x - y) ** 2), 1e-12)))


def ssim(x: np.ndarray, y: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    return float(structural_similarity(x, y, data_range=1.0, channel_axis=-1 if x.ndim == 3 else None))


def denoisers(sigma: float, tv_weight: float, nlm_h: float, nlm: dict | None = None) -> dict[str, Callable]:
    """Grey (H×W) or colour (H×W×3) images alike; colour BM3D is CBM3D (``bm3d_rgb``, opponent colour space)."""
    from skimage.restoration import denoise_nl_means, denoise_tv_chambolle, denoise_wavelet, estimate_sigma

    nlm = nlm or NLM
    axis = lambda y: -1 if y.ndim == 3 else None

    def nl_means_estimated(y, _):
        estimate = max(float(estimate_sigma(y, channel_axis=axis(y), average_sigmas=True)), 1e-3)
        return denoise_nl_means(y, h=nlm_h * estimate, sigma=estimate, channel_axis=axis(y), **nlm)

    methods = {
        "nl_means (σ estimated)": nl_means_estimated,
        "nl_means (oracle σ)": lambda y, _: denoise_nl_means(y, h=nlm_h * sigma, sigma=sigma, channel_axis=axis(y),
                                                             **nlm),
        "tv_chambolle": lambda y, _: denoise_tv_chambolle(y, weight=tv_weight, channel_axis=axis(y)),
        "wavelet (BayesShrink)": lambda y, _: denoise_wavelet(y, method="BayesShrink", mode="soft",
                                                              rescale_sigma=True, channel_axis=axis(y)),
    }
    bm3d = optional("bm3d")
    if bm3d is not None:
        profile = bm3d.BM3DProfile()  # the default 'np' (normal) profile
        profile.num_threads = BM3D_THREADS
        methods["bm3d (oracle σ)"] = lambda y, _: (bm3d.bm3d_rgb(y, sigma, profile) if y.ndim == 3
                                                   else bm3d.bm3d(y, sigma, profile))
    return methods


def inpainters() -> dict[str, Callable]:
    from skimage.restoration import inpaint_biharmonic

    methods = {"biharmonic": lambda y, known: inpaint_biharmonic(y, ~known)}
    cv2 = optional("cv2")
    if cv2 is not None:
        def opencv(flag):
            def run(y, known):
                return cv2.inpaint(np.round(y * 255).astype(np.uint8), (~known).astype(np.uint8) * 255, 3,
                                   flag).astype(np.float64) / 255
            return run

        methods["opencv telea"] = opencv(cv2.INPAINT_TELEA)
        methods["opencv navier-stokes"] = opencv(cv2.INPAINT_NS)
    return methods


def upscalers(factor: int) -> dict[str, Callable]:
    from PIL import Image

    def resize(resample):
        def run(y, _):
            im = Image.fromarray(y.astype(np.float32), mode="F")
            return np.asarray(im.resize((y.shape[1] * factor, y.shape[0] * factor), resample), dtype=np.float64)
        return run

    return {"bicubic": resize(Image.Resampling.BICUBIC), "lanczos": resize(Image.Resampling.LANCZOS)}


def choose_settings(noisy_clean_pairs: dict[float, tuple[list, list]], nlm: dict | None = None,
                    nlm_images: int = 50) -> dict[str, float]:
    """TV weight and NL-means h per noise level σ (keys ``{σ·255:.0f}_tv_weight`` / ``_nlm_h``) by mean PSNR on
    validation pairs ``{σ: (noisy images, clean images)}``."""
    from skimage.restoration import denoise_nl_means, denoise_tv_chambolle

    nlm = nlm or NLM
    settings = {}
    for sigma, (noisy, clean) in noisy_clean_pairs.items():
        key = f"{sigma * 255:.0f}"
        score = {wt: np.mean([psnr(denoise_tv_chambolle(y, weight=wt), x) for y, x in zip(noisy, clean)])
                 for wt in TV_WEIGHTS}
        settings[f"{key}_tv_weight"] = max(score, key=score.get)
        score = {h: np.mean([psnr(denoise_nl_means(y, h=h * sigma, sigma=sigma, **nlm), x)
                             for y, x in zip(noisy[:nlm_images], clean[:nlm_images])]) for h in NLM_H}
        settings[f"{key}_nlm_h"] = max(score, key=score.get)
    return settings
