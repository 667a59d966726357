"""Does making free-form holes slow training? The hole makers' throughput side by side
(benchmarks/speed.py's hole_rows: square, strokes, blotches, freeform, mixed, in one run), then
each method's training step with its holes made in train_step (--holes=model, the default):
square holes against free-form ones, the same network, batch and data, interleaved rounds.

    python benchmarks/freeform_speed.py --data_dir=../shared/data

Writes --freeform_out (JSON with the machine and the command).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import tfinpaint.quiet  # noqa: E402,F401  (first: hides TensorFlow's start-up lines)

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from benchmarks import speed  # noqa: E402  (its flags: --batch_size, --data_dir, --steps, ...)
from benchmarks.common import command, machine  # noqa: E402
from tfinpaint import evaluate, models  # noqa: E402
from tfinpaint.data import HoleMaker, load_dataset, take_array  # noqa: E402

flags.DEFINE_list("step_methods", ["ae", "unet", "conv"], "Methods whose training step is timed "
                  "with square and with free-form holes.")
flags.DEFINE_string("kind", "freeform", "The free-form kind timed in the steps.")
flags.DEFINE_string("freeform_out", "benchmarks/results/speed_freeform_cpu.json", "Results JSON.")
FLAGS = flags.FLAGS


def step_rows(cars, bs):
    images = tf.data.Dataset.from_tensor_slices(tf.constant(cars[:4096], tf.float32) / 255.0) \
        .repeat().batch(bs, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    rows = []
    for method in FLAGS.step_methods:
        runners = {}
        for holes in ("square", FLAGS.kind):
            keras.utils.set_random_seed(0)
            model = models.build(method, 12, image_size=32, seed=0)
            model.hole_maker = HoleMaker(12, seed=0, kind=holes, area=(0.1, 0.4))
            model.compile(keras.optimizers.Adam(1e-3))
            model.build_optimizers()
            runners[holes] = speed.step_runner(model, images)
        got = speed.interleaved(runners, FLAGS.steps, FLAGS.rounds, bs)
        rows.append({"method": method, "square": got["square"], FLAGS.kind: got[FLAGS.kind],
                     "ratio": got[FLAGS.kind] / got["square"]})
        print(f"step {method:6s} square holes {got['square']:7.1f} images/s, {FLAGS.kind} "
              f"{got[FLAGS.kind]:7.1f} images/s, ratio {rows[-1]['ratio']:.3f}", flush=True)
    return rows


def main(argv):
    bs = FLAGS.batch_size or 64  # ae's own default is 32
    record = {"command": command(), "machine": machine(), "batch_size": bs,
              "load_average": os.getloadavg()}
    record["holes"] = speed.hole_rows(bs)
    cars = take_array(load_dataset("cifar10_cars", FLAGS.data_dir).train)
    record["steps"] = step_rows(cars, bs)
    record["load_average_after"] = os.getloadavg()
    evaluate.save_json(FLAGS.freeform_out, record)
    print(f"wrote {FLAGS.freeform_out}")


if __name__ == "__main__":
    app.run(main)
