"""Method registry: `build(name, hole_size, ...)` makes any method by its --method name."""
from tfinpaint.models import context_encoder, cvae, dcgan, gan, supervised  # noqa: F401  (registers the methods)
from tfinpaint.models.base import (Inpainter, composite, crop_patch, hole_window, model_input,
                                   paste_patch)
from tfinpaint.models.registry import METHODS, build, get
