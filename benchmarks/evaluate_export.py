"""Scores exported SavedModels on the protocol, beside the classical methods, on the same holes.

    python benchmarks/evaluate_export.py \
        --models=tuned=runs/tuned/ae_patch,default=runs/ae_patch/export/ae_patch
    python benchmarks/evaluate_export.py --models=unet=runs/unet/export/unet \
        --eval_holes=freeform_10_20,freeform_30_40          # the free-form protocol, both bands

Each model is called through its `serving_default` signature, as TF Serving would call it, and
known pixels must come back unchanged (counted, as ../shared/check_export.py does). The data and
evaluation flags are tfinpaint.main's (defaults: Config's, as no method is named); --eval_holes
takes several protocols here, comma-separated (random, center, freeform_10_20, freeform_30_40:
the free-form masks are the PNG set in benchmarks/freeform_masks/). A patch method refuses
free-form masks: its row says so instead of figures.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import tfinpaint.quiet  # noqa: E402,F401  (first: hides TensorFlow's start-up lines)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags, logging  # noqa: E402

from benchmarks.common import command, machine  # noqa: E402
from tfinpaint import evaluate as protocol  # noqa: E402
from tfinpaint import config, export  # noqa: E402
from tfinpaint import flags as tfflags  # noqa: E402
from tfinpaint.data import load_dataset, take_array  # noqa: E402

flags.DEFINE_list("models", [], "name=SavedModel folder (a version or its parent) pairs.")
flags.DEFINE_string("out", None, "Results JSON (optional).")
flags.DEFINE_string("grid", None, "Also write <grid>_<protocol>.png: sample grids of the first "
                    "--grid_images test images (rows: masked with the hole white, original, then "
                    "each model that fills them, then --grid_classical, in flag order).")
flags.DEFINE_list("grid_classical", ["biharmonic", "telea"], "Classical methods in the grids.")
flags.DEFINE_integer("grid_images", 8, "Images in each --grid.", lower_bound=1)
flags.DEFINE_boolean("real_floor", True, "Add the realism noise-floor row (swd of a second sample "
                     "of real images: the training images).")
tfflags.define("data", "evaluation", only=("dataset", "data_dir", "image_size", "hole_size",
                                           "hole_fraction", "eval_images", "classical"))
flags.DEFINE_list("eval_holes", [config.default("eval_holes")], "Protocols to score, "
                  f"comma-separated: {', '.join(protocol.HOLES)}.")
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
    real = take_array(splits.train_squares(), len(images)) if FLAGS.real_floor else None
    hole = FLAGS.hole_size or max(1, round(splits.image_size * setting("hole_fraction")))
    unknown = sorted(set(FLAGS.eval_holes) - set(protocol.HOLES))
    if unknown:
        raise app.UsageError(f"--eval_holes: unknown {unknown}; choose from {protocol.HOLES}.")
    fills = {}
    for pair in FLAGS.models:
        name, path = pair.split("=", 1)
        signature = tf.saved_model.load(export.latest(path)).signatures["serving_default"]
        fills[name] = lambda x, m, s=signature: s(image=x, mask=m)["inpainted"]
    protocols = {}
    for holes in FLAGS.eval_holes:
        n, h, w = images.shape[:3]
        rows = protocol.evaluate(fills, images, hole, classical=tuple(FLAGS.classical),
                                 holes=holes, real=real)
        masks = protocol.eval_masks(holes, n, h, w, hole)
        for row in rows:
            if row["method"] in fills and not row.get("refused"):
                row["known_pixels_changed"] = known_changed(fills[row["method"]], images, masks)
        title = f"{dataset} test: {len(images)} images, {protocol.describe(holes, hole)}"
        print(protocol.format_table(rows, title))
        for row in rows:
            if row.get("known_pixels_changed"):
                print(f"{row['method']}: {row['known_pixels_changed']} known pixels changed")
        protocols[holes] = {"title": title, "rows": rows}
        if FLAGS.grid:
            protocols[holes]["grid"] = write_grid(f"{FLAGS.grid}_{holes}.png", fills, rows,
                                                  images[:FLAGS.grid_images],
                                                  masks[:FLAGS.grid_images])
    if FLAGS.out:
        payload = {"command": command(), "machine": machine(),
                   "models": dict(p.split("=", 1) for p in FLAGS.models)}
        if len(protocols) == 1:
            payload.update(next(iter(protocols.values())))
        else:
            payload["protocols"] = protocols
        protocol.save_json(FLAGS.out, payload)


def write_grid(path, fills, rows, images_u8, masks):
    """The sample grid of `images_u8` at `masks`; returns its rows' names, top to bottom."""
    from tfinpaint.samples import write_samples

    refused = {r["method"] for r in rows if r.get("refused")}
    names = [n for n in fills if n not in refused]
    outputs = [protocol.model_fill(fills[n], images_u8, masks) for n in names]
    for name in FLAGS.grid_classical:
        outputs.append(np.stack([protocol.classical_fill(name, im, m[..., 0] < 0.5)
                                 for im, m in zip(images_u8, masks)]).astype(np.float32) / 255)
    write_samples(path, images_u8.astype(np.float32) / 255, masks, *outputs)
    print(f"wrote {path}")
    return {"path": path, "rows": ["masked (hole white)", "original", *names,
                                   *FLAGS.grid_classical]}


def known_changed(fn, images_u8, masks, batch=250):
    """Known pixels (uint8 values) a model's composited output changed, as check_export.py
    counts them (noise in the holes, outputs rounded to uint8)."""
    outputs = protocol.model_fill(fn, images_u8, masks, batch)
    out8 = np.clip(np.asarray(outputs) * 255 + 0.5, 0, 255).astype(np.uint8)
    known = np.broadcast_to(masks > 0.5, out8.shape)
    return int((out8[known] != images_u8[known]).sum())


if __name__ == "__main__":
    app.run(main)
