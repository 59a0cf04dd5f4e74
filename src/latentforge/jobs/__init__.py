"""Jobs a trained model does: generate, reconstruct, edit (and, later, restore, compress, represent)."""

from .edit import interpolate, slerp
from .generate import generate
from .reconstruct import reconstruct

__all__ = ["generate", "interpolate", "reconstruct", "slerp"]
