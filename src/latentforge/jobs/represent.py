"""What a model's latent space represents: embeddings, linear probes and ``classify``, anomaly (OOD) scores,
latent maps.

- ``embed``: the flat latent code of each image (:mod:`latentforge.jobs.latent_space`: posterior means for
  VAEs, every layer for the hierarchical VAE, inversion for GANs).
- A fitted linear probe is saved beside the model in ``MODEL/probes/NAME.safetensors`` (scaler mean and scale,
  weights, bias) with ``NAME.json`` (classes, C, accuracies, SHA-256): arrays and JSON, never a pickle.
- Anomaly scores (higher = more unusual), per image:
  ``elbo``: the negative ELBO in nats; ``iwae``: the negative importance-sampled log-likelihood (k samples);
  ``complexity``: the input-complexity–corrected score of Serrà et al. (2020), S(x) = −log₂ p(x) − L(x), with
  −log₂ p(x) from the k-sample bound and L(x) the length in bits of the image as a PNG (the generic
  compressor), which removes the bias of likelihoods towards simple images (Nalisnick et al., 2019);
  ``knn``: the distance from the image's normalised latent code to its k-th nearest normalised code of
  in-distribution training images (Sun et al., 2022), which needs no likelihood and reads the representation.
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from ..data import to_uint8
from ..errors import CheckpointError, ConfigError
from ..io import atomic_write_bytes
from ..metrics.ood import knn_distance
from ..metrics.probes import fit_linear
from ..models import GenerativeModel
from ..models.capabilities import SupportsImportanceWeights
from .beside_model import check_name, read_beside, save_beside, saved_records
from .common import check_images
from .latent_space import latent_space

PROBES = "probes"
FORMAT = 1
LIKELIHOOD_SCORES = ("elbo", "iwae", "complexity")
SCORES = (*LIKELIHOOD_SCORES, "knn")
KNN_NEIGHBOURS = 50  # Sun et al. (2022) use k = 50 with their full training sets


# -- embeddings -----------------------------------------------------------------------------------------
@torch.no_grad()
def embed(model: GenerativeModel, images: torch.Tensor, *, batch_size: int = 500, progress: bool = False,
          labels: torch.Tensor | None = None) -> np.ndarray:
    """N×D float32 latent codes of N×C×H×W images in [0, 1] (``labels`` for class-conditional models)."""
    space = latent_space(model)
    parts = []
    for i in tqdm(range(0, images.shape[0], batch_size), desc="embed", unit="batch", disable=not progress,
                  leave=False, dynamic_ncols=True):
        part = None if labels is None else labels[i: i + batch_size]
        parts.append(space.encode(images[i: i + batch_size], part).cpu().numpy())
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, space.dim), np.float32)


# -- a saved linear probe ------------------------------------------------------------------------------
@dataclasses.dataclass
class LinearProbe:
    """Logistic regression on standardised latents: p(y | z) = softmax(W (z − mean) / scale + b)."""

    name: str
    mean: np.ndarray  # D
    scale: np.ndarray  # D
    weight: np.ndarray  # K×D (K = 1 for two classes, as scikit-learn stores it)
    bias: np.ndarray  # K
    classes: list[int]
    class_names: list[str] | None
    info: dict[str, Any]  # C, accuracies, data it was fitted on

    @classmethod
    def fit(cls, name: str, features: np.ndarray, labels: np.ndarray, *, c: float, seed: int = 0,
            class_names: list[str] | None = None, info: dict[str, Any] | None = None) -> LinearProbe:
        check_name(name, "probe")
        scaler, reg = fit_linear(features, labels, c=c, seed=seed)
        return cls(name, scaler.mean_.astype(np.float64), scaler.scale_.astype(np.float64),
                   reg.coef_.astype(np.float64), reg.intercept_.astype(np.float64),
                   [int(k) for k in reg.classes_], class_names, {"C": float(c), **(info or {})})

    @property
    def dims(self) -> int:
        return int(self.mean.shape[0])

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """N×len(classes) class probabilities of N×D latents."""
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or features.shape[1] != self.dims:
            raise ConfigError(f"Probe {self.name!r} reads {self.dims}-dimensional latents, got features of shape "
                              f"{features.shape}: it was fitted for another model.")
        logits = ((features - self.mean) / self.scale) @ self.weight.T + self.bias
        if logits.shape[1] == 1:  # two classes: scikit-learn keeps one logit for the second class
            logits = np.concatenate([np.zeros_like(logits), logits], axis=1)
        logits -= logits.max(1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(1, keepdims=True)

    def predict(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(self.classes)[self.probabilities(features).argmax(1)]

    def label_name(self, label: int) -> str:
        return self.class_names[label] if self.class_names and 0 <= label < len(self.class_names) else str(label)


HOW_TO_FIT = "Fit one with `latentforge probe MODEL --save NAME` (lf.probe(..., save=NAME))."


def save_probe(model_dir: str | os.PathLike, probe: LinearProbe) -> Path:
    """Write the probe's arrays and record into ``model_dir/probes/`` (replacing one of the same name)."""
    arrays = {k: torch.from_numpy(np.ascontiguousarray(getattr(probe, k))) for k in ("mean", "scale", "weight", "bias")}
    return save_beside(model_dir, PROBES, probe.name, "probe", arrays,
                       {"format": FORMAT, "dims": probe.dims, "classes": probe.classes,
                        "class_names": probe.class_names, "info": probe.info})


def load_probe(model_dir: str | os.PathLike, name: str) -> LinearProbe:
    """The probe ``name`` saved beside the model; a ConfigError listing the saved ones when there is none."""
    arrays, meta = read_beside(model_dir, PROBES, name, "probe", HOW_TO_FIT)
    corrupt = f"probe {name!r} beside the model in {model_dir} is corrupt; fit it again."
    if not isinstance(meta.get("classes"), list):
        raise CheckpointError(f"The record of {corrupt}")
    try:
        mean, scale, weight, bias = (arrays[k].double().numpy() for k in ("mean", "scale", "weight", "bias"))
    except KeyError as e:
        raise CheckpointError(f"The array {e} is missing: {corrupt}") from None
    d, k = mean.shape[0], len(meta["classes"])
    if scale.shape != (d,) or weight.shape[1:] != (d,) or weight.shape[0] not in (k, 1) or bias.shape != (
            weight.shape[0],) or not all(np.isfinite(a).all() for a in (mean, scale, weight, bias)):
        raise CheckpointError(f"Arrays of inconsistent shapes or non-finite values: {corrupt}")
    return LinearProbe(name, mean, scale, weight, bias, [int(c) for c in meta["classes"]], meta.get("class_names"),
                       dict(meta.get("info") or {}))


def list_probes(model_dir: str | os.PathLike) -> list[str]:
    return [r["name"] for r in saved_records(model_dir, PROBES, "probe")]


# -- anomaly scores ------------------------------------------------------------------------------------
def png_bits(images: torch.Tensor) -> np.ndarray:
    """L(x): bits of each image (N×C×H×W in [0, 1]) as a PNG at the strongest compression, header included."""
    arrays = to_uint8(images).permute(0, 2, 3, 1).numpy()
    sizes = []
    for a in arrays:
        buffer = io.BytesIO()
        Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a).save(buffer, format="PNG", optimize=True)
        sizes.append(8 * buffer.tell())
    return np.asarray(sizes, dtype=np.float64)


@torch.no_grad()
def anomaly_scores(model: GenerativeModel, images: torch.Tensor, *, scores: tuple[str, ...] = SCORES, k: int = 16,
                   reference: np.ndarray | None = None, neighbours: int = KNN_NEIGHBOURS, batch_size: int = 100,
                   seed: int = 0, progress: bool = False) -> dict[str, np.ndarray]:
    """Per-image anomaly scores (higher = more unusual) named in ``scores``; ``k`` importance samples per image
    give both the ELBO (their mean log-weight) and the importance-sampled likelihood (their log-mean-exp);
    ``knn`` needs the ``reference`` embeddings (:func:`embed` of in-distribution training images)."""
    unknown = [s for s in scores if s not in SCORES]
    if unknown or not scores:
        raise ConfigError(f"Unknown anomaly score(s) {unknown or scores!r}; choose from {', '.join(SCORES)}.")
    out: dict[str, np.ndarray] = {}
    if any(s in LIKELIHOOD_SCORES for s in scores):
        out.update(likelihood_scores(model, images, k=k, batch_size=batch_size, seed=seed, progress=progress))
    if "knn" in scores:
        if reference is None:
            raise ConfigError("The knn score needs reference embeddings of in-distribution training images.")
        out["knn"] = knn_distance(reference, embed(model, images, progress=progress), min(neighbours, len(reference)))
    return {s: out[s] for s in scores}


def likelihood_scores(model: GenerativeModel, images: torch.Tensor, *, k: int, batch_size: int, seed: int,
                      progress: bool) -> dict[str, np.ndarray]:
    """The negative ELBO, the negative k-sample log-likelihood (nats) and the complexity score (bits)."""
    if not isinstance(model, SupportsImportanceWeights):
        raise ConfigError(f"A {model.name} model gives no likelihood, so it cannot score anomalies by elbo, iwae or "
                          "complexity; use a VAE-family model (vae, iwae, hvae, ...) or the knn score.")
    if not isinstance(k, int) or k < 1:
        raise ConfigError(f"k (importance samples per image) must be a whole number ≥ 1, got {k!r}.")
    model.eval()
    images = check_images(model, images)
    device = next(model.parameters()).device
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    elbo, iwae = [], []
    try:
        for i in tqdm(range(0, images.shape[0], batch_size), desc="scores", unit="batch", disable=not progress,
                      leave=False, dynamic_ncols=True):
            x = images[i: i + batch_size].to(device)
            w = model.log_importance_weights((x, None), k).double().cpu()  # k×N
            elbo.append(-w.mean(0))
            iwae.append(-(torch.logsumexp(w, 0) - math.log(k)))
    finally:
        torch.random.set_rng_state(generator_state)
    out = {"elbo": torch.cat(elbo).numpy(), "iwae": torch.cat(iwae).numpy()}
    out["complexity"] = out["iwae"] / math.log(2) - png_bits(images)
    return out


# -- latent maps ---------------------------------------------------------------------------------------
def project_2d(features: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """N×2 coordinates of N×D features: PCA, or t-SNE (scikit-learn) for a neighbourhood-preserving map."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] < 3:
        raise ConfigError(f"A latent map needs at least 3 N×D embeddings, got shape {features.shape}.")
    if features.shape[1] <= 2:
        return np.pad(features, ((0, 0), (0, 2 - features.shape[1])))
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(features)
    if method == "tsne":
        return TSNE(n_components=2, init="pca", random_state=seed,
                    perplexity=min(30.0, (features.shape[0] - 1) / 3)).fit_transform(features)
    raise ConfigError(f"Unknown latent map method {method!r}; choose pca or tsne.")


def write_latent_map(coords: np.ndarray, labels: np.ndarray | None, out: str | os.PathLike, *, title: str = "",
                     class_names: list[str] | None = None) -> Path:
    """A scatter plot of 2-D coordinates coloured by label, written as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 5.6), dpi=100)
    if labels is None:
        ax.scatter(coords[:, 0], coords[:, 1], s=3, alpha=0.6)
    else:
        for label in np.unique(labels):
            pick = labels == label
            name = class_names[int(label)] if class_names and int(label) < len(class_names) else str(int(label))
            ax.scatter(coords[pick, 0], coords[pick, 1], s=3, alpha=0.6, label=name)
        ax.legend(markerscale=4, fontsize=7, loc="best")
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    atomic_write_bytes(out, buffer.getvalue())
    return Path(out)


@torch.no_grad()
def manifold_grid(model: GenerativeModel, n: int = 15, span: float = 0.95) -> torch.Tensor:
    """n×n decoded images of a 2-D latent over the prior's central ``span`` quantiles (Kingma & Welling, 2014,
    Fig. 4): N(0, 1) quantiles along each axis."""
    space = latent_space(model)
    if space.dim != 2:
        raise ConfigError(f"The manifold grid needs a 2-D latent; this {model.name} model's latent has {space.dim} "
                          "dimensions (use the scatter map instead).")
    q = torch.linspace((1 - span) / 2, (1 + span) / 2, n)
    axis = torch.special.ndtri(q)
    z = torch.stack(torch.meshgrid(axis, axis.flip(0), indexing="xy"), -1).reshape(-1, 2)
    return space.decode(z)
