"""Method registry: `build(name, hole_size, ...)` makes any method by its --method name."""
# Importing the method modules registers them.
from tfinpaint.models import context_encoder, cvae, dcgan, gan, supervised, unet  # noqa: F401
from tfinpaint.models.base import (Inpainter, composite, crop_patch, hole_window, model_input,
                                   paste_patch)
from tfinpaint.models.registry import METHODS, build, get

__all__ = ["Inpainter", "METHODS", "build", "composite", "crop_patch", "get", "hole_window",
           "model_input", "paste_patch"]
