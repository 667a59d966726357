"""Method registry: `build(name, hole_size, ...)` makes any method by its --method name."""
from tfinpaint.models import supervised  # noqa: F401  (registers conv, ae, ae_patch)
from tfinpaint.models.base import Inpainter, PatchInpainter, composite, model_input
from tfinpaint.models.registry import METHODS, build, get
