"""Trains methods on the CIFAR-10 cars and prints the protocol table beside the classical anchors.

    python benchmarks/quality.py --data_dir=../shared/data --epochs=conv=30,ae=40,ae_patch=40

Runs live in --runs_dir/<method> and resume if interrupted. Results (table, per-method training
time, machine, command) go to --out as JSON. The data, training, model and evaluation flags are
tfinpaint.main's (tfinpaint/flags.py) and apply to every method; --epochs is per method here.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import tfinpaint.quiet  # noqa: E402,F401  (first: hides TensorFlow's start-up lines)

from absl import app, flags  # noqa: E402

from benchmarks.common import command, machine, value  # noqa: E402
from tfinpaint import evaluate as protocol  # noqa: E402
from tfinpaint import flags as tfflags  # noqa: E402
from tfinpaint.data import take_array  # noqa: E402
from tfinpaint.experiment import Experiment  # noqa: E402

flags.DEFINE_list("methods", ["conv", "ae", "ae_patch"], "Methods to train.")
flags.DEFINE_list("epochs", ["conv=30", "ae=40", "ae_patch=40"],
                  "method=epochs pairs (a method not listed: its default).")
flags.DEFINE_list("set", [], "Method settings key=value (e.g. filters=32,z_steps=300); the model "
                  "flags (--filters=32) do the same.")
flags.DEFINE_string("runs_dir", "runs/benchmark", "Where the runs (checkpoints) live.")
flags.DEFINE_string("out", "benchmarks/results/quality_cars.json", "Results JSON.")
tfflags.define("data", "training", "model", "evaluation",
               exclude=("method", "epochs", "logical_cpus"))
flags.adopt_module_key_flags(tfflags)
FLAGS = flags.FLAGS
FLAGS.set_default("samples", 3)  # three draws per hole in the sample grids of cvae*


def main(argv):
    from absl import logging

    logging.set_verbosity(logging.WARNING)
    epochs = {m: int(e) for m, e in (e.split("=") for e in FLAGS.epochs)}
    settings = {k: value(v) for k, v in (s.split("=", 1) for s in FLAGS.set)}
    fills, trained, protocols, experiments = {}, {}, set(), {}
    for method in FLAGS.methods:
        cfg = tfflags.config_from_flags(FLAGS, method, epochs=epochs.get(method),
                                        model_dir=os.path.join(FLAGS.runs_dir, method),
                                        **settings)
        exp = Experiment(cfg)
        protocols.add((exp.cfg.dataset, exp.cfg.image_size, exp.cfg.hole_size,
                       exp.cfg.eval_holes, exp.cfg.eval_images))
        exp.train()
        record = exp.training_record()
        if record:
            trained[method] = record
        fills[method] = exp.fill_fn()
        experiments[method] = exp
        splits, cfg = exp.splits, exp.cfg
    if len(protocols) > 1:
        raise SystemExit(f"these methods use different protocols {protocols}; benchmark them "
                         "in separate runs.")
    images = take_array(splits.test, cfg.eval_images)
    rows = protocol.evaluate(fills, images, cfg.hole_size, classical=cfg.classical,
                             holes=cfg.eval_holes)
    title = (f"{cfg.dataset} test: {len(images)} images {cfg.image_size}x{cfg.image_size}, "
             f"{protocol.describe(cfg.eval_holes, cfg.hole_size)}, uint8-rounded, composited")
    print(protocol.format_table(rows, title))
    for method, t in trained.items():
        print(f"{method}: {t['epochs']} epochs, {t['seconds_per_epoch']:.1f} s/epoch")
    for method, exp in experiments.items():
        exp.write_samples(os.path.join(os.path.dirname(FLAGS.out), "samples", f"{method}.png"),
                          images[:8])
    protocol.save_json(FLAGS.out, {"command": command(), "machine": machine(), "title": title,
                                   "rows": rows, "training": trained})
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    app.run(main)
