"""The Python API the CLI and the web app call: train, load, and the jobs, one module per kind of job."""

from __future__ import annotations

from ..jobs import generate, interpolate, reconstruct
from ..jobs.attributes import Attribute
from ..jobs.output import (
    check_grid_output,
    check_image_output,
    check_output_target,
    non_finite_to_none,
    write_grid,
    write_image,
    write_json,
)
from ..jobs.reconstruct import comparison_grid
from ..training.run import Run, build_run_config
from .demo import clear_previous_demo, demo
from .editing import attributes, class_edit, edit, group_images, invert, make_attribute, traverse
from .evaluation import check_evaluate_arguments, evaluate
from .images import (
    dataset_images,
    images_for_reconstruction,
    read_images,
    reconstruct_files,
    reconstruct_to_grid,
    reconstruct_whole_image,
)
from .representation import anomaly, classify, embed, latent_map, probe
from .restoration import colorize, denoise, inpaint, restore_image_files, upscale
from .runs import can_resume, info, load, train, training_data_config, training_record, write_run_report

# ``lf.generate`` is the generate job itself (:func:`latentforge.jobs.generate.generate`); ``lf.sample`` is its
# earlier name, kept as an alias (as the CLI's ``sample`` verb is).
sample = generate

__all__ = ["Attribute", "Run", "anomaly", "attributes", "build_run_config", "can_resume", "check_evaluate_arguments",
           "check_grid_output", "check_image_output", "check_output_target", "class_edit", "classify",
           "clear_previous_demo", "colorize", "comparison_grid", "dataset_images", "demo", "denoise", "edit", "embed",
           "evaluate", "generate", "group_images", "images_for_reconstruction", "info", "inpaint", "interpolate",
           "invert", "latent_map", "load", "make_attribute", "non_finite_to_none", "probe", "read_images",
           "reconstruct", "reconstruct_files", "reconstruct_to_grid", "reconstruct_whole_image",
           "restore_image_files", "sample", "train", "training_data_config", "training_record", "traverse",
           "upscale", "write_grid", "write_image", "write_json", "write_run_report"]
