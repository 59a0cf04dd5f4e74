"""latentforge: generative autoencoders on images.

    import latentforge as lf
    run = lf.train(model="vae", data="mnist-5k", epochs=5, out="runs/vae")
    model = lf.load("runs/vae/model")
    images = model.sample(16)
"""

from __future__ import annotations

from .version import __version__ as __version__

_API = {
    "train", "load", "generate", "sample", "reconstruct", "evaluate", "interpolate", "Run",
    "traverse", "make_attribute", "attributes", "edit", "class_edit", "invert",  # editing (issue 20)
    "embed", "probe", "classify", "anomaly", "latent_map",  # representation (issue 20)
    "denoise", "inpaint", "upscale", "colorize",  # restoration (issue 21)
}


def __getattr__(name: str):
    # The API is imported lazily so that `import latentforge.data` stays light.
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'latentforge' has no attribute {name!r}")


__all__ = sorted(_API | {"__version__"})
