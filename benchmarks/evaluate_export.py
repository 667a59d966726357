"""Scores exported SavedModels on the protocol, beside the classical methods, on the same holes.

    python benchmarks/evaluate_export.py \
        --models=tuned=runs/tuned/ae_patch,default=runs/ae_patch/export/ae_patch

Each model is called through its `serving_default` signature, as TF Serving would call it. The
data and evaluation flags are tfinpaint.main's (defaults: Config's, as no method is named).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import tfinpaint.quiet  # noqa: E402,F401  (first: hides TensorFlow's start-up lines)

import tensorflow as tf  # noqa: E402
from absl import app, flags, logging  # noqa: E402

from benchmarks.common import command, machine  # noqa: E402
from tfinpaint import evaluate as protocol  # noqa: E402
from tfinpaint import config, export  # noqa: E402
from tfinpaint import flags as tfflags  # noqa: E402
from tfinpaint.data import load_dataset, take_array  # noqa: E402

flags.DEFINE_list("models", [], "name=SavedModel folder (a version or its parent) pairs.")
flags.DEFINE_string("out", None, "Results JSON (optional).")
tfflags.define("data", "evaluation", only=("dataset", "data_dir", "image_size", "hole_size",
                                           "hole_fraction", "eval_images", "eval_holes",
                                           "classical"))
flags.adopt_module_key_flags(tfflags)
FLAGS = flags.FLAGS


def setting(name):
    """The flag's value, or Config's own default (no method here)."""
    value = FLAGS[name].value
    return config.default(name) if value is None else value


def main(argv):
    logging.set_verbosity(logging.WARNING)
    dataset = setting("dataset")
    splits = load_dataset(dataset, FLAGS.data_dir, FLAGS.image_size)
    images = take_array(splits.test, setting("eval_images"))
    hole = FLAGS.hole_size or max(1, round(splits.image_size * setting("hole_fraction")))
    center = setting("eval_holes") == "center"
    fills = {}
    for pair in FLAGS.models:
        name, path = pair.split("=", 1)
        signature = tf.saved_model.load(export.latest(path)).signatures["serving_default"]
        fills[name] = lambda x, m, s=signature: s(image=x, mask=m)["inpainted"]
    rows = protocol.evaluate(fills, images, hole, center, tuple(FLAGS.classical))
    title = (f"{dataset} test: {len(images)} images, {hole}x{hole} "
             f"{'centre' if center else 'random (default_rng(0))'} holes")
    print(protocol.format_table(rows, title))
    if FLAGS.out:
        protocol.save_json(FLAGS.out, {"command": command(), "machine": machine(), "title": title,
                                       "rows": rows,
                                       "models": dict(p.split("=", 1) for p in FLAGS.models)})


if __name__ == "__main__":
    app.run(main)
