"""Writes (or checks) the free-form protocol's masks as PNG files, once, for anyone to reuse.

    python benchmarks/make_freeform_masks.py            # writes benchmarks/freeform_masks/
    python benchmarks/make_freeform_masks.py --check    # regenerates and compares, writes nothing

benchmarks/freeform_masks/<band>/NNNN.png, band 10-20 and 30-40 (hole area in percent of the
image), NNNN = 0000..0999 the index of the CIFAR-10 test car it goes with: 32x32 single-channel
PNGs, white (255) = hole, black (0) = known, the format --mask_files and --mode=inpaint read.
The masks come from `tfinpaint.evaluate.freeform_protocol_masks` (the TensorFlow free-form hole
maker, kind freeform: brush strokes and blotches, seeded per band), and every one lies inside its
band. `--mode=evaluate --eval_holes=freeform_10_20` and benchmarks/evaluate_export.py score on
these files.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import tfinpaint.quiet  # noqa: E402,F401  (first: hides TensorFlow's start-up lines)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from tfinpaint import evaluate as protocol  # noqa: E402

flags.DEFINE_integer("n", 1000, "Masks per band (the protocol's 1000 test cars).")
flags.DEFINE_integer("size", 32, "Mask side.")
flags.DEFINE_string("out", protocol.MASK_DIR, "Folder of the band folders.")
flags.DEFINE_boolean("check", False, "Compare the files with freshly made masks; write nothing.")
FLAGS = flags.FLAGS


def png(mask):
    """float [H, W, 1] mask (1 known, 0 hole) -> PNG bytes, white = hole."""
    return tf.io.encode_png(tf.constant(np.where(mask < 0.5, 255, 0).astype(np.uint8)),
                            compression=9).numpy()


def main(argv):
    failed = False
    for holes, ((low, high), folder, seed) in protocol.FREEFORM.items():
        masks = protocol.freeform_protocol_masks(holes, FLAGS.n, FLAGS.size, FLAGS.size)
        area = (masks[..., 0] < 0.5).mean(axis=(1, 2))
        assert ((area >= low) & (area <= high)).all(), holes
        path = os.path.join(FLAGS.out, folder)
        if FLAGS.check:
            found = protocol.read_protocol_masks(holes, FLAGS.n, FLAGS.size, FLAGS.size) \
                if FLAGS.out == protocol.MASK_DIR else None
            same = found is not None and np.array_equal(found, masks)
            failed |= not same
            print(f"{holes}: {path} {'matches' if same else 'DIFFERS from'} the masks made now")
            continue
        os.makedirs(path, exist_ok=True)
        sizes = []
        for i, m in enumerate(masks):
            data = png(m)
            sizes.append(len(data))
            with open(os.path.join(path, f"{i:04d}.png"), "wb") as f:
                f.write(data)
        print(f"{holes}: {len(masks)} masks in {path} (seed {seed}; hole area {area.min():.3f}-"
              f"{area.max():.3f}, mean {area.mean():.3f}; {np.mean(sizes):.0f} bytes per PNG)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    app.run(main)
