"""What the resolution target can ask of a fill: the margin over biharmonic at 768x512 and on the
same Kodak photos enlarged --scale times (bicubic, masks with them), for the shipped model filling
region by region at the enlarged size (what `tfinpaint fill` does), and for the same fill made at
768x512 and enlarged (bicubic) into the hole: a fill that does not depend on the size at all. If
even that one's margin shrinks, the shrinking comes from the anchor (biharmonic gains on the
smoother enlarged photos), not from the model's size.

    python benchmarks/photo_resolution_bound.py --data_dir=../shared/data \\
        --out=benchmarks/results/photo_resolution_bound.json

Prints a table and writes --out (JSON with the command and the machine).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import tfinpaint.quiet  # noqa: E402,F401  (first: hides TensorFlow's start-up lines)

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from benchmarks.common import command, machine  # noqa: E402
from tfinpaint import photo_protocol as pp  # noqa: E402
from tfinpaint.data.sources import resolve_data_dir  # noqa: E402
from tfinpaint.evaluate import save_json  # noqa: E402

flags.DEFINE_string("data_dir", None, "The data directory (photos/kodak); default "
                    "$TFINPAINT_DATA_DIR.")
flags.DEFINE_string("model", "photos", "The shipped model.")
flags.DEFINE_list("families", ["medium"], "Hole families.")
flags.DEFINE_integer("scale", 2, "Enlargement.", lower_bound=2)
flags.DEFINE_string("out", None, "Results JSON.")
FLAGS = flags.FLAGS


def made_small(fill, factor):
    """A fill of the photo shrunk `factor` times (INTER_AREA; a hole pixel stays hole), enlarged
    back (bicubic, as the photos were): the same fill whatever the size."""
    def fill_small(image, mask):
        h, w = image.shape[:2]
        small = cv2.resize(image, (w // factor, h // factor), interpolation=cv2.INTER_AREA)
        small_mask = (cv2.resize(mask[..., 0], (w // factor, h // factor),
                                 interpolation=cv2.INTER_AREA) > 1.0 - 1e-6)
        small_mask = small_mask[..., None].astype(np.float32)
        out = pp.composite(small, small_mask, np.asarray(fill(small, small_mask)))
        return pp.upscale(out, factor)
    return fill_small


def main(argv):
    del argv
    data_dir = resolve_data_dir(FLAGS.data_dir)
    if not data_dir:
        raise app.UsageError("set --data_dir or $TFINPAINT_DATA_DIR (the folder holding photos/).")
    k = FLAGS.scale
    model = pp.region_fill(pp.pretrained_fill(FLAGS.model))
    biharmonic = pp.classical("biharmonic")
    small = pp.run({"ffc": model, "biharmonic": biharmonic}, data_dir, ["kodak"], FLAGS.families)
    big = pp.run({"ffc": model, f"ffc at 1/{k}, enlarged": made_small(model, k),
                  "biharmonic": biharmonic}, data_dir, ["kodak"], FLAGS.families, scale=k)
    psnr = {(r["set"], r["family"], r["method"]): r["hole_psnr"] for r in small + big}
    print(f"\nKodak hole PSNR (dB), region by region; margin over biharmonic, 1x -> x{k}")
    print(f"{'family':8s} {'fill at x' + str(k):24s} {'1x':>6s} {'x' + str(k):>6s} "
          f"{'margin 1x -> x' + str(k):>22s} {'shrinks':>8s}")
    summary = []
    for family in FLAGS.families:
        base = psnr["kodak", family, "ffc"] - psnr["kodak", family, "biharmonic"]
        for method in ("ffc", f"ffc at 1/{k}, enlarged", "biharmonic"):
            at_k = psnr[f"kodak_x{k}", family, method]
            row = {"family": family, "method": method, "hole_psnr_x1": psnr["kodak", family,
                   "ffc" if method != "biharmonic" else "biharmonic"], f"hole_psnr_x{k}": at_k}
            if method != "biharmonic":
                margin = at_k - psnr[f"kodak_x{k}", family, "biharmonic"]
                row.update(margin_x1=base, **{f"margin_x{k}": margin}, shrinks=base - margin)
            summary.append(row)
            tail = (f"{base:+6.2f} -> {row[f'margin_x{k}']:+6.2f} {row['shrinks']:8.2f}"
                    if "shrinks" in row else "")
            print(f"{family:8s} {method:24s} {row['hole_psnr_x1']:6.2f} {at_k:6.2f} {tail:>31s}")
    if FLAGS.out:
        save_json(FLAGS.out, {"command": command(), "machine": machine(), "model": FLAGS.model,
                              "scale": k, "summary": summary, "rows": small + big})


if __name__ == "__main__":
    app.run(main)
