"""Method registry: `build(name, hole_size, ...)` makes any method by its --method name."""
from tfinpaint.models import cvae, gan, supervised  # noqa: F401  (registers the methods)
from tfinpaint.models.base import Inpainter, composite, hole_window, model_input
from tfinpaint.models.registry import METHODS, build, get
