"""Jobs a trained model does: generate, reconstruct, edit, evaluate (and, later, restore, compress, represent)."""

from .edit import interpolate, slerp
from .evaluate import evaluate_model, importance_sampled_nll, merge_shards, sample_quality
from .generate import generate
from .reconstruct import reconstruct

__all__ = ["evaluate_model", "generate", "importance_sampled_nll", "interpolate", "merge_shards", "reconstruct",
           "sample_quality", "slerp"]
