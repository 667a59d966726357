"""Constants that several modules need, in a module that imports nothing (no TensorFlow): the
config reads its choices here, not in the modules that act on them (tfinpaint.evaluate and
data.holes re-export theirs under their old names), and the method
registry reads the build inputs' defaults here, not in tfinpaint.config (which imports it)."""

CLASSICAL = ("mean", "telea", "ns", "biharmonic")  # the rows every protocol shows by default
# ... and every classical method there is: PatchMatch (Barnes et al. 2009, pypatchmatch) copies
# real texture into the hole; seconds per photo, so it is asked for by name.
CLASSICAL_CHOICES = CLASSICAL + ("patchmatch",)

# The free-form protocols: --eval_holes name -> (hole area band, PNG folder, seed). Masks of
# kind "freeform" (strokes and blotches), every one inside its band.
FREEFORM = {"freeform_10_20": ((0.10, 0.20), "10-20", 1020),
            "freeform_30_40": ((0.30, 0.40), "30-40", 3040)}
HOLES = ("random", "center") + tuple(FREEFORM)  # --eval_holes choices

# The Config defaults of the build inputs every method takes (tfinpaint.models.registry.build);
# a method replaces them where it is registered (`@register("ffc", ..., loss="l1")`).
BUILD_DEFAULTS = {"image_size": None, "known_weight": 0.0, "loss": "mse"}
LOSSES = ("mse", "l1")

DISTRIBUTE = ("none", "mirrored", "multi_worker", "tpu")  # --distribute choices
POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")  # Keras dtype policies (--precision)
PRECISIONS = (*POLICIES, "auto")  # --precision choices
# Patch methods fill one compact hole: its pixels must fill at least this share of its bounding
# box (a square 100%, a disc 79%; a thin stroke or two distant squares far less).
COMPACT_FILL = 0.5
PHOTO_KINDS = ("thin", "medium", "thick", "photo")  # LaMa's mask families, and all three mixed
HOLE_KINDS = ("square", "strokes", "blotches", "freeform", "mixed") + PHOTO_KINDS  # --holes_kind
