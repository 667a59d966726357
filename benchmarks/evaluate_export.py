"""Scores exported SavedModels on the protocol, beside the classical methods, on the same holes.

    python benchmarks/evaluate_export.py --models=tuned=runs/tuned/ae_patch,default=runs/ae_patch/export/ae_patch

Each model is called through its `serving_default` signature, as TF Serving would call it.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
from absl import app, flags, logging  # noqa: E402

from benchmarks.common import command, machine  # noqa: E402
from tfinpaint import evaluate as protocol  # noqa: E402
from tfinpaint import export  # noqa: E402
from tfinpaint.data import load_dataset, take_array  # noqa: E402

flags.DEFINE_list("models", [], "name=SavedModel folder (a version or its parent) pairs.")
flags.DEFINE_string("dataset", "cifar10_cars", "Dataset whose test split is scored.")
flags.DEFINE_string("data_dir", None, "Data directory (default $TFINPAINT_DATA_DIR).")
flags.DEFINE_integer("image_size", None, "Image size (default: the data's).")
flags.DEFINE_integer("hole_size", 12, "Hole size.")
flags.DEFINE_integer("eval_images", 1000, "Test images.")
flags.DEFINE_boolean("center", False, "Centre holes instead of the seeded random ones.")
flags.DEFINE_string("out", None, "Results JSON (optional).")
FLAGS = flags.FLAGS


def main(argv):
    logging.set_verbosity(logging.WARNING)
    images = take_array(load_dataset(FLAGS.dataset, FLAGS.data_dir, FLAGS.image_size).test,
                        FLAGS.eval_images)
    fills = {}
    for pair in FLAGS.models:
        name, path = pair.split("=", 1)
        signature = tf.saved_model.load(export.latest(path)).signatures["serving_default"]
        fills[name] = lambda x, m, s=signature: s(image=x, mask=m)["inpainted"]
    rows = protocol.evaluate(fills, images, FLAGS.hole_size, FLAGS.center)
    title = (f"{FLAGS.dataset} test: {len(images)} images, {FLAGS.hole_size}x{FLAGS.hole_size} "
             f"{'centre' if FLAGS.center else 'random (default_rng(0))'} holes")
    print(protocol.format_table(rows, title))
    if FLAGS.out:
        protocol.save_json(FLAGS.out, {"command": command(), "machine": machine(), "title": title,
                                       "rows": rows, "models": dict(p.split("=", 1) for p in FLAGS.models)})


if __name__ == "__main__":
    app.run(main)
