"""Quality and whole-training speed of each precision, same method, budget and seed:

    python benchmarks/precision_quality.py --data_dir=../shared/data \
        --runs=conv:epochs=3,ae_patch:epochs=5,gan:epochs=2

Each entry of --runs is `method[:key=value...]` (a budget and method settings; the same for
every precision); every method is trained once per --precisions entry from a clean run folder,
then scored on its protocol (no classical rows: they do not depend on the precision). Prints a
table (hole PSNR per precision and the difference, training images/s and the ratio to the first
precision, validation and checkpoints included) and writes --out (JSON, machine, command).
"""
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import tfinpaint.quiet  # noqa: E402,F401  (first: hides TensorFlow's start-up lines)

from absl import app, flags  # noqa: E402

from benchmarks.common import command, machine, value  # noqa: E402
from tfinpaint import evaluate as protocol  # noqa: E402
from tfinpaint import flags as tfflags  # noqa: E402
from tfinpaint import precision  # noqa: E402
from tfinpaint.experiment import Experiment  # noqa: E402

flags.DEFINE_list("runs", ["conv:epochs=3", "ae_patch:epochs=5", "gan:epochs=2"],
                  "method[:key=value...] per entry: the budget and settings of its runs.")
flags.DEFINE_list("precisions", ["float32", "mixed_bfloat16"], "Precisions compared (the first "
                  "is the reference of the ratios).")
flags.DEFINE_string("runs_dir", "runs/precision", "Where the runs live (cleared first).")
flags.DEFINE_string("out", "benchmarks/results/precision_quality.json", "Results JSON.")
tfflags.define("data", only=("data_dir",))
flags.adopt_module_key_flags(tfflags)
FLAGS = flags.FLAGS


def parse(entry):
    method, *pairs = entry.split(":")
    return method, {k: value(v) for k, v in (p.split("=", 1) for p in pairs)}


def one_run(method, settings, policy):
    folder = os.path.join(FLAGS.runs_dir, f"{method}_{policy}")
    shutil.rmtree(folder, ignore_errors=True)
    cfg = tfflags.config_from_flags(FLAGS, method, precision=policy, model_dir=folder,
                                    classical=(), **settings)
    exp = Experiment(cfg, log=lambda *a: None)
    exp.train()
    rows = exp.evaluate()
    row = next(r for r in rows if r["method"] == method)
    images = exp.cfg.epochs * exp.cfg.steps_per_epoch * exp.global_batch_size
    return {"method": method, "precision": policy, "settings": settings,
            "steps": exp.cfg.epochs * exp.cfg.steps_per_epoch, "train_seconds": exp.train_seconds,
            "train_images_per_s": images / exp.train_seconds, **row}


def main(argv):
    rows, table = [], []
    for entry in FLAGS.runs:
        method, settings = parse(entry)
        mine = [one_run(method, settings, policy) for policy in FLAGS.precisions]
        precision.apply("float32")
        ref = mine[0]
        for r in mine:
            r["hole_psnr_minus_ref"] = r["hole_psnr"] - ref["hole_psnr"]
            r["speed_ratio"] = r["train_images_per_s"] / ref["train_images_per_s"]
            table.append(f"| {method} | {r['precision']} | {r['steps']} | {r['hole_psnr']:.2f} "
                         f"| {r['hole_psnr_minus_ref']:+.2f} | {r.get('swd', float('nan')):.1f} "
                         f"| {r['train_images_per_s']:.1f} | {r['speed_ratio']:.2f} |")
            print(table[-1], flush=True)
        rows += mine
    print("| method | precision | steps | hole PSNR | vs first | SWD | train images/s | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(table))
    protocol.save_json(FLAGS.out, {"command": command(), "machine": machine(),
                                   "native_bf16": precision.cpu_has_native_bf16(), "rows": rows})
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    app.run(main)
