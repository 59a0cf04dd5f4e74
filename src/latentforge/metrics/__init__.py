"""Pure formulas over tensors and arrays: reconstruction error, likelihood conversions, FID, KID,
precision/recall. Nothing here runs a model; the loops that do are :mod:`latentforge.jobs.evaluate`."""

from .fid import fid_from_features, frechet_distance
from .kid import kid
from .likelihood import active_units, bits_per_dim, log_mean_exp
from .precision_recall import precision_recall
from .reconstruction import mse_per_image, psnr

__all__ = ["active_units", "bits_per_dim", "fid_from_features", "frechet_distance", "kid", "log_mean_exp",
           "mse_per_image", "precision_recall", "psnr"]
