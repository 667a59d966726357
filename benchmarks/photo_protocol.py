"""The photo protocol (tfinpaint.photo_protocol): photographs at their own size, thin / medium /
thick / object holes, classical methods and any exported SavedModel scored alike.

    # the classical rows, once (PatchMatch takes seconds per photo): kept in the JSON
    python benchmarks/photo_protocol.py --data_dir=../shared/data \\
        --classical=telea,ns,biharmonic,patchmatch --out=benchmarks/results/photo_classical.json
    # any export (its serving_default signature, one photo at a time, any size), beside them
    python benchmarks/photo_protocol.py --data_dir=../shared/data --classical= \\
        --models=unet=runs/photos/unet/export/unet --with=benchmarks/results/photo_classical.json \\
        --out=benchmarks/results/photo_unet.json --grids=benchmarks/results/samples/photos

Rows: set x family x method. The masks are the PNG sets in benchmarks/photo_masks/ (written on
first use). --with adds the rows of earlier runs (same protocol) to the table and the grids.
Every output is kept as PNG under --fills (default runs/photo_protocol/fills), which the grids
read: a grid shows, per family, a few photos: masked input (hole white), each method, the truth.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import tfinpaint.quiet  # noqa: E402,F401  (first: hides TensorFlow's start-up lines)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from benchmarks.common import command, machine  # noqa: E402
from tfinpaint import photo_protocol as pp  # noqa: E402
from tfinpaint.data import read_image  # noqa: E402
from tfinpaint.data.sources import resolve_data_dir  # noqa: E402
from tfinpaint.evaluate import CLASSICAL_CHOICES, save_json  # noqa: E402
from tfinpaint.pretrained import PREFIX  # noqa: E402
from tfinpaint.utils import atomic_write_bytes  # noqa: E402

flags.DEFINE_string("data_dir", None, "The data directory (photos/test, photos/kodak, ...); "
                    "default $TFINPAINT_DATA_DIR.")
flags.DEFINE_list("classical", ["telea", "ns", "biharmonic", "patchmatch"],
                  f"Classical methods to run: {', '.join(CLASSICAL_CHOICES)}.")
flags.DEFINE_list("models", [], "name=SavedModel folder (a version or its parent) pairs, or "
                  "name=pretrained:NAME for a model shipped in the package; prefix either with "
                  "regions: to fill region by region as `tfinpaint fill` does "
                  "(name=regions:pretrained:photos).")
flags.DEFINE_integer("working", None, "For regions:... models: the longer side of each hole "
                     "region's crop as the model fills it (default: tfinpaint.regions.WORKING, "
                     "as `tfinpaint fill`).", lower_bound=8)
flags.DEFINE_list("sets", list(pp.SETS), "Photo sets.")
flags.DEFINE_list("families", list(pp.FAMILIES), "Hole families.")
flags.DEFINE_integer("limit", None, "Score only the first N photos of each set.", lower_bound=1)
flags.DEFINE_integer("scale", 1, "Enlarge the photos (bicubic) and their masks this many times: "
                     "the protocol at higher resolution (sets named e.g. kodak_x2).", lower_bound=1)
flags.DEFINE_list("with", [], "Results JSON files of earlier runs whose rows join the table.")
flags.DEFINE_string("out", None, "Results JSON.")
flags.DEFINE_string("fills", os.path.join("runs", "photo_protocol", "fills"),
                    "Folder keeping every output PNG (<method>/<set>/<family>/<photo>.png).")
flags.DEFINE_string("grids", None, "Write <grids>_<family>.jpg comparison grids.")
flags.DEFINE_list("grid_photos", ["bsds_test_120093", "bsds_test_201080", "kodim08", "kodim21"],
                  "Photos in the grids (names without suffix).")
flags.DEFINE_boolean("markdown", False, "Run nothing: print the rows of the --with files as a "
                     "Markdown table (hole PSNR / SWD per set and family; best hole PSNR bold).")
FLAGS = flags.FLAGS


def fill_path(method, name, family, path):
    return os.path.join(FLAGS.fills, method, name, family, pp.stem(path) + ".png")


def save(method, name, family, path, output):
    target = fill_path(method, name, family, path)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    atomic_write_bytes(target, tf.io.encode_png(output).numpy())


def table(rows):
    lines = []
    for name in dict.fromkeys(r["set"] for r in rows):
        for family in dict.fromkeys(r["family"] for r in rows):
            part = sorted((r for r in rows if r["set"] == name and r["family"] == family),
                          key=lambda r: -r["hole_psnr"])
            if not part:
                continue
            lines.append(f"\n{name} ({part[0]['images']} photos), {family} holes")
            lines.append(f"{'method':16s} {'hole_psnr':>9s} {'psnr':>6s} {'ssim':>6s} "
                         f"{'hole_l1':>8s} {'swd(low)':>8s} {'ms/photo':>9s}")
            for r in part:
                swd = "-" if r["swd"] is None else f"{r['swd']:.1f}"
                lines.append(f"{r['method']:16s} {r['hole_psnr']:9.2f} {r['psnr']:6.2f} "
                             f"{r['ssim']:6.3f} {r['hole_l1']:8.4f} {swd:>8s} "
                             f"{r['ms_per_image']:9.0f}")
    return "\n".join(lines)


def markdown(rows):
    """A Markdown table: one row per method, per set and family its hole PSNR / SWD."""
    keys = list(dict.fromkeys((r["set"], r["family"]) for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    cell = {(r["set"], r["family"], r["method"]): r for r in rows}
    lines = ["| method | " + " | ".join(f"{s} {f}" for s, f in keys) + " |",
             "|---|" + "---|" * len(keys)]
    for m in methods:
        cells = []
        for s, f in keys:
            r = cell.get((s, f, m))
            best = max(x["hole_psnr"] for x in rows if (x["set"], x["family"]) == (s, f))
            text = "-" if r is None else f"{r['hole_psnr']:.2f} / {r['swd']:.0f}"
            cells.append(f"**{text}**" if r is not None and r["hole_psnr"] == best else text)
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def grid(data_dir, family, methods):
    """uint8 grid: one row per grid photo (landscape), columns masked, each method, truth."""
    rows, labels = [], ["masked"] + methods + ["truth"]
    for name in FLAGS.sets:
        for path in pp.photo_paths(data_dir, name):
            if pp.stem(path) not in FLAGS.grid_photos:
                continue
            image = read_image(path)
            mask = pp.masks(data_dir, name, family, [path])[0]
            cells = [np.where(mask > 0.5, image, 255).astype(np.uint8)]
            for m in methods:
                p = fill_path(m, name, family, path)
                cells.append(read_image(p) if os.path.exists(p) else np.full_like(image, 128))
            cells.append(image)
            cells = [pp.landscape(c) for c in cells]
            h = 321  # every row at the BSDS size, so Kodak rows line up
            cells = [tf.image.resize(c, [h, round(c.shape[1] * h / c.shape[0])],
                                     antialias=True).numpy() for c in cells]
            rows.append(np.concatenate([np.pad(c, ((2, 2), (2, 2), (0, 0)),
                                               constant_values=255) for c in cells], axis=1))
    if not rows:
        return None, labels
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    return np.clip(np.concatenate(rows) + 0.5, 0, 255).astype(np.uint8), labels


def main(argv):
    del argv
    if FLAGS.markdown:  # no run: the rows of the --with files as one Markdown table
        rows = []
        for path in getattr(FLAGS, "with"):
            with open(path) as f:
                rows += json.load(f)["rows"]
        print(markdown(rows))
        return
    data_dir = resolve_data_dir(FLAGS.data_dir)
    if not data_dir:
        raise app.UsageError("set --data_dir or $TFINPAINT_DATA_DIR (the folder holding photos/).")
    fills = {name: pp.classical(name) for name in FLAGS.classical}
    for pair in FLAGS.models:
        name, _, path = pair.partition("=")
        by_region = path.startswith("regions:")
        path = path.removeprefix("regions:")
        fill = (pp.pretrained_fill(path.removeprefix(PREFIX)) if path.startswith(PREFIX)
                else pp.signature_fill(os.path.expanduser(path)))
        fills[name] = pp.region_fill(fill, FLAGS.working) if by_region else fill
    rows = pp.run(fills, data_dir, FLAGS.sets, FLAGS.families, FLAGS.limit, save=save,
                  scale=FLAGS.scale)
    earlier = []
    for path in getattr(FLAGS, "with"):
        with open(path) as f:
            earlier += [r for r in json.load(f)["rows"]
                        if (r["set"], r["family"], r["method"]) not in
                        {(x["set"], x["family"], x["method"]) for x in rows}]
    print(table(rows + earlier))
    if FLAGS.out:
        save_json(FLAGS.out, {"command": command(), "machine": machine(), "rows": rows,
                              "limit": FLAGS.limit,
                              "hole_areas": pp.hole_areas(data_dir, FLAGS.sets, FLAGS.families)})
    if FLAGS.grids:
        methods = list(dict.fromkeys(r["method"] for r in earlier + rows))
        for family in FLAGS.families:
            picture, labels = grid(data_dir, family, methods)
            if picture is not None:
                target = f"{FLAGS.grids}_{family}.jpg"
                os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
                atomic_write_bytes(target, tf.io.encode_jpeg(picture, quality=80).numpy())
                print(f"wrote {target}: columns {', '.join(labels)}")


if __name__ == "__main__":
    app.run(main)
