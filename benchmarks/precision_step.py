"""What one training step of the photo model costs in each precision on this machine: ffc's
compiled Keras train_function (generator and discriminator updates, as tfinpaint.main runs it) on
one batch already in memory, the precisions taking turns inside every round (speed.interleaved:
warm-up, then the median round), each step time as a ratio to float32's in the same run. On a CPU without native bf16 (no
AVX512_BF16 or AMX) TensorFlow emulates bf16: this is the number that says what that costs.

    python benchmarks/precision_step.py --data_dir=../shared/data

Writes --out (JSON with the machine, whether its CPU has native bf16, and the command).
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import tfinpaint.quiet  # noqa: E402,F401  (first: hides TensorFlow's start-up lines)

import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from benchmarks import speed  # noqa: E402  (step_runner, and its flags: --data_dir, --steps, ...)
from benchmarks.common import command, machine  # noqa: E402
from tfinpaint import build, config, precision  # noqa: E402
from tfinpaint.data import HoleMaker  # noqa: E402

flags.DEFINE_string("method", "ffc", "Method whose step is timed.")
flags.DEFINE_integer("size", 256, "Crop side.")
for name, default in (("batch_size", 8), ("steps", 1), ("rounds", 3),
                      ("out", "benchmarks/results/precision_step_cpu.json")):
    flags.FLAGS.set_default(name, default)
FLAGS = flags.FLAGS


def runner(policy, batch):
    cfg = config.make(FLAGS.method, dataset="photos", data_dir=FLAGS.data_dir,
                      image_size=FLAGS.size, holes_kind="photo", holes="data",
                      batch_size=FLAGS.batch_size, precision=policy)
    cfg = cfg.resolve(build.splits(cfg))
    precision.apply(policy)
    return speed.step_runner(build.model(cfg), tf.data.Dataset.from_tensors(batch).repeat())


def main(argv):
    del argv
    images = tf.random.stateless_uniform([FLAGS.batch_size, FLAGS.size, FLAGS.size, 3], [0, 0])
    batch = (images, HoleMaker(12, seed=0, kind="photo")(images, seed=tf.constant([0, 1])))
    per_s = speed.interleaved({p: runner(p, batch) for p in FLAGS.precisions}, FLAGS.steps,
                              FLAGS.rounds, FLAGS.batch_size)
    reference = per_s[FLAGS.precisions[0]]
    rows = [{"precision": p, "images_per_s": v, "s_per_step": FLAGS.batch_size / v,
             "ratio_to_" + FLAGS.precisions[0]: reference / v} for p, v in per_s.items()]
    m = machine()
    print(f"{FLAGS.method} step, {FLAGS.size}x{FLAGS.size}, batch {FLAGS.batch_size}; {m['cpu']}, "
          f"{m['cores']} cores, native bf16: {m['native_bf16']}")
    print(f"{'precision':16s} {'s/step':>8s} {'x ' + FLAGS.precisions[0]:>12s}")
    for r in rows:
        print(f"{r['precision']:16s} {r['s_per_step']:8.2f} "
              f"{r['ratio_to_' + FLAGS.precisions[0]]:12.2f}")
    result = {"command": command(), "machine": m, "method": FLAGS.method,
              "size": FLAGS.size, "batch_size": FLAGS.batch_size, "rows": rows}
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
    with open(FLAGS.out, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    app.run(main)
