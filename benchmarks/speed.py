"""Throughput of the input pipeline, the hole maker, one training step per method, and the
exported SavedModel's latency at batch 1 and 256.

    python benchmarks/speed.py --data_dir=../shared/data

Prints a table and writes --out (JSON, with the machine and the command). Run it on an idle
machine: the figures are wall-clock.
"""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import tfinpaint.quiet  # noqa: E402,F401  (first: hides TensorFlow's start-up lines)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from benchmarks.common import command, machine  # noqa: E402
from tfinpaint import evaluate, export, models, precision  # noqa: E402
from tfinpaint import flags as tfflags  # noqa: E402
from tfinpaint.data import HoleMaker, load_dataset, train_pipeline  # noqa: E402

flags.DEFINE_list("methods", ["conv", "ae", "ae_patch", "cvae", "cvae_patch", "gan"],
                  "Methods to time (32x32 CIFAR methods).")
flags.DEFINE_integer("train_steps", 30, "Timed training steps per method (after a warm-up).")
flags.DEFINE_string("out", "benchmarks/results/speed_cpu.json", "Results JSON.")
tfflags.define("data", "training", only=("data_dir", "batch_size", "precision"))
flags.adopt_module_key_flags(tfflags)
FLAGS = flags.FLAGS


def images_per_second(ds, batches, batch_size):
    it = iter(ds)
    for _ in range(5):
        next(it)
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batches * batch_size / (time.perf_counter() - start)


def median_ms(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


class Timer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = time.perf_counter() - self.start


def main(argv):
    from absl import logging

    logging.set_verbosity(logging.WARNING)
    bs = FLAGS.batch_size
    cars = load_dataset("cifar10_cars", FLAGS.data_dir)
    rows = []
    pipe = train_pipeline(cars.train, bs, seed=0)
    rows.append(("pipeline: images only", "images/s", images_per_second(pipe, 400, bs)))
    pipe = train_pipeline(cars.train, bs, seed=0, hole_maker=HoleMaker(12))
    rows.append(("pipeline: + holes in the map", "images/s", images_per_second(pipe, 400, bs)))
    maker = HoleMaker(12, seed=0)
    batch = tf.zeros([bs, 32, 32, 3])
    holes = tf.function(lambda: maker(batch))
    ms = median_ms(lambda: holes().numpy(), 200)
    rows.append(("hole maker in tf.function", "images/s", bs / ms * 1000))

    policy = precision.apply(FLAGS.precision)  # before any model is built
    for method in FLAGS.methods:
        keras.utils.set_random_seed(0)
        model = models.build(method, 12, image_size=32, seed=0)
        model.compile(keras.optimizers.Adam(1e-3))
        model.build_optimizers()
        data = train_pipeline(cars.train, bs, seed=0)
        timer = Timer()
        model.fit(data, steps_per_epoch=FLAGS.train_steps, epochs=2, verbose=0, shuffle=False,
                  callbacks=[timer])  # epoch 1 traces and warms up; epoch 2 is timed
        rows.append((f"train step: {method}", "images/s", FLAGS.train_steps * bs / timer.seconds))
        with tempfile.TemporaryDirectory() as tmp:
            path = export.export(model, tmp, model.fixed_size)
            signature = tf.saved_model.load(path).signatures["serving_default"]
            for n in (1, 256):
                x = tf.random.uniform([n, 32, 32, 3])
                m = tf.constant(evaluate.protocol_masks(n, 32, 32, 12))
                ms = median_ms(lambda: signature(image=x, mask=m)["inpainted"].numpy(),
                               50 if n == 1 else 10)
                rows.append((f"SavedModel {method} batch {n}", "ms/batch", ms))

    print(f"{'what':36s} {'value':>10s}  unit")
    for what, unit, value in rows:
        print(f"{what:36s} {value:10.1f}  {unit}")
    evaluate.save_json(FLAGS.out, {"command": command(), "machine": machine(), "batch_size": bs,
                                   "precision": policy,
                                   "rows": [{"what": w, "unit": u, "value": v} for w, u, v in rows]})
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    app.run(main)
