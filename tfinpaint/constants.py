"""Constants that several modules need, in a module that imports nothing (no TensorFlow), so
that tfinpaint.config reads them without importing tfinpaint.evaluate. tfinpaint.evaluate
re-exports them under the same names."""

CLASSICAL = ("mean", "telea", "ns", "biharmonic")  # the rows every protocol shows by default
# ... and every classical method there is: PatchMatch (Barnes et al. 2009, pypatchmatch) copies
# real texture into the hole; seconds per photo, so it is asked for by name.
CLASSICAL_CHOICES = CLASSICAL + ("patchmatch",)

# The free-form protocols: --eval_holes name -> (hole area band, PNG folder, seed). Masks of
# kind "freeform" (strokes and blotches), every one inside its band.
FREEFORM = {"freeform_10_20": ((0.10, 0.20), "10-20", 1020),
            "freeform_30_40": ((0.30, 0.40), "30-40", 3040)}
HOLES = ("random", "center") + tuple(FREEFORM)  # --eval_holes choices
