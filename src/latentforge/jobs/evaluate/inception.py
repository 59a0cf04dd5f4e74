"""Loading the FID Inception-v3 (:mod:`latentforge.nn.inception`) from a weights file the user has, and its
pool3 features as a sample-quality feature extractor.

Weights are never downloaded. Expected tensor names are torchvision's ``Inception3`` state-dict names, which
is what pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` holds, e.g.::

    Conv2d_1a_3x3.conv.weight            (32, 3, 3, 3)
    Conv2d_1a_3x3.bn.{weight,bias,running_mean,running_var}
    Mixed_5b.branch1x1.conv.weight       (64, 192, 1, 1)
    ...
    Mixed_7c.branch_pool.bn.running_var  (192,)

``fc.*`` (the 1008-way classifier), ``AuxLogits.*`` and ``*.num_batches_tracked`` are accepted and ignored.
pytorch-fid's wrapper names (``blocks.0.0.conv.weight`` … ``blocks.3.2.…``) are mapped onto these too.
Convert the .pth once with
``safetensors.torch.save_file(torch.load(p, weights_only=True), "fid_inception.safetensors")``;
``.pth``/``.pt`` files are also read directly, but only through ``torch.load(weights_only=True)`` (no pickle code runs).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch

from ...data import to_float
from ...errors import CheckpointError
from ...io import load_tensors
from ...nn.inception import FEATURE_DIM, FIDInceptionV3

# pytorch-fid's InceptionV3 wrapper keeps the same modules in ``blocks``; its names map onto torchvision's.
_BLOCK_NAMES = (
    ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3"),
    ("Conv2d_3b_1x1", "Conv2d_4a_3x3"),
    ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"),
    ("Mixed_7a", "Mixed_7b", "Mixed_7c"),
)
_IGNORED = re.compile(r"^(fc|AuxLogits)\.|\.num_batches_tracked$")


def _canonical_name(key: str) -> str:
    key = key.removeprefix("module.")
    match = re.match(r"^blocks\.(\d+)\.(\d+)\.(.*)$", key)
    if match:
        block, index, rest = int(match[1]), int(match[2]), match[3]
        if block < len(_BLOCK_NAMES) and index < len(_BLOCK_NAMES[block]):
            return f"{_BLOCK_NAMES[block][index]}.{rest}"
    return key


def read_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A state dict from .safetensors, or from .pth/.pt through ``torch.load(weights_only=True)``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Inception weights not found: {path} does not exist.")
    if path.suffix in (".pth", ".pt"):
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # weights_only refuses anything but tensors and plain containers
            raise CheckpointError(f"Could not read {path} as a plain state dict with torch.load(weights_only=True) "
                                  f"({e}). Convert it to .safetensors.") from e
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise CheckpointError(f"{path} does not hold a state dict of tensors.")
        return state
    return load_tensors(path, "Inception weights")


def load_fid_inception(path: str | os.PathLike, device: str | torch.device = "cpu") -> FIDInceptionV3:
    """Build the network and load weights from ``path``; missing, unexpected or mis-shaped tensors raise
    a CheckpointError that names them."""
    state = {_canonical_name(k): v for k, v in read_weights(path).items() if not _IGNORED.search(_canonical_name(k))}
    net = FIDInceptionV3()
    expected = {k: v.shape for k, v in net.state_dict().items() if not _IGNORED.search(k)}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = [f"{k}: file {tuple(state[k].shape)} vs network {tuple(expected[k])}"
                  for k in sorted(set(state) & set(expected)) if tuple(state[k].shape) != tuple(expected[k])]
    if missing or unexpected or mismatched:
        def show(items: list[str]) -> str:
            return ", ".join(items[:5]) + (f" … ({len(items)} in all)" if len(items) > 5 else "")
        parts = [f"missing {show(missing)}" if missing else "", f"unexpected {show(unexpected)}" if unexpected else "",
                 f"wrong shape {show(mismatched)}" if mismatched else ""]
        raise CheckpointError(
            f"{path} is not an FID Inception-v3 state dict: {'; '.join(p for p in parts if p)}. Expected torchvision "
            "Inception3 names as in pytorch-fid's pt_inception-2015-12-05-6726825d.pth "
            "(see latentforge.jobs.evaluate.inception)."
        )
    net.load_state_dict(state, strict=False)  # only the ignored entries (num_batches_tracked) are left out
    return net.eval().to(device)


class InceptionExtractor:
    """Pool3 features of the FID Inception network, with the same call signature as the lenet extractor."""

    name = "inception"
    accuracy = None
    feature_dim = FEATURE_DIM

    def __init__(self, net: FIDInceptionV3, weights: str | os.PathLike | None = None):
        self.net = net.eval()
        self.info = {"extractor": "inception", "weights": None if weights is None else str(weights)}

    @classmethod
    def from_file(cls, path: str | os.PathLike, device: str | torch.device = "cpu") -> InceptionExtractor:
        return cls(load_fid_inception(path, device), path)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, batch_size: int = 50) -> torch.Tensor:
        device = next(self.net.parameters()).device
        out = [self.net(to_float(images[i:i + batch_size]).to(device)).float().cpu()
               for i in range(0, images.shape[0], batch_size)]
        return torch.cat(out) if out else torch.empty(0, FEATURE_DIM)
