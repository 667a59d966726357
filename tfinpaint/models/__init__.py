"""Method registry: `build(name, hole_size, ...)` makes any method by its --method name."""
# Importing the method modules registers them, in this order: the lists derived from the registry
# (tfinpaint.data.holes' COMPACT_ONLY_METHODS, FREEFORM_METHODS and the NOT_COMPACT message, which
# exported SavedModels hold and evaluate.refused recognises by its start) keep it. Add new
# methods at the end.
from tfinpaint.models import supervised, unet, gan, cvae, dcgan, context_encoder, ffc  # noqa: F401,E501
from tfinpaint.models.base import (Inpainter, composite, crop_patch, hole_window, model_input,
                                   paste_patch)
from tfinpaint.models.registry import METHODS, build, get

__all__ = ["Inpainter", "METHODS", "build", "composite", "crop_patch", "get", "hole_window",
           "model_input", "paste_patch"]
