"""Training speed measured side by side: each method's training step against a plain-Keras
reference of the same network, in the same process, interleaved and repeated, per precision and
with XLA off/on; then whole epochs of `tfinpaint.main` against a plain-Keras `fit` epoch; then the
hole makers and the exported SavedModel's latency.

    python benchmarks/speed.py --data_dir=../shared/data

Machines of one class differ by up to 2x and a shared machine drifts within minutes, so the
figures that mean something are the ratios measured here, within one run: project / reference
(same network, batch, data and precision), bf16 / float32, XLA / no XLA. Absolute images/s are
printed beside them with the machine. Prints a table and writes --out (JSON, machine, command).
"""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import tfinpaint.quiet  # noqa: E402,F401  (before TensorFlow: no C++ start-up lines)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from benchmarks.common import command, machine  # noqa: E402
from tfinpaint import config, evaluate, models, precision  # noqa: E402
from tfinpaint import flags as tfflags  # noqa: E402
from tfinpaint.data import (HoleMaker, eval_pipeline, load_dataset, take_array,  # noqa: E402
                            train_pipeline)
from tfinpaint.experiment import Experiment  # noqa: E402
from tfinpaint.models.base import crop_patch, hole_window, model_input  # noqa: E402

flags.DEFINE_list("methods", ["conv", "ae", "ae_patch", "gan"], "Methods to time (32x32 cars).")
flags.DEFINE_list("precisions", ["float32", "mixed_bfloat16"], "Precision policies to time.")
flags.DEFINE_list("xla", ["off", "on"], "jit_compile settings to time.")
flags.DEFINE_integer("steps", 20, "Timed steps per round.")
flags.DEFINE_integer("rounds", 5, "Interleaved rounds (project, reference, project, ...).")
flags.DEFINE_list("epoch_methods", ["conv", "ae_patch"], "Methods whose whole epochs are timed.")
flags.DEFINE_integer("epochs", 3, "Whole epochs per run in the epoch comparison (the first, which "
                     "traces, is not counted).")
flags.DEFINE_string("out", "benchmarks/results/speed_cpu.json", "Results JSON.")
tfflags.define("data", "training", only=("data_dir", "batch_size"))
flags.adopt_module_key_flags(tfflags)
FLAGS = flags.FLAGS


def step_runner(model, dataset):
    """A function running one compiled training step of `model` on the next batch (Keras' own
    train_function: no callbacks, no progress bar) and waiting for it."""
    model.make_train_function()
    iterator = iter(dataset)

    def run(steps):
        for _ in range(steps):
            logs = model.train_function(iterator)
        tf.nest.map_structure(lambda t: np.asarray(t), logs)  # wait for the last step
    return run


def interleaved(runners, steps, rounds, batch):
    """images/s of each runner: warm-up, then `rounds` rounds of `steps` steps each, the runners
    taking turns inside every round; the median round."""
    for run in runners.values():
        run(3)
    times = {name: [] for name in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            start = time.perf_counter()
            run(steps)
            times[name].append(time.perf_counter() - start)
    return {name: steps * batch / float(np.median(t)) for name, t in times.items()}


def reference_data(method, model, images, masks, batch):
    """The same arrays as the project trains on, as (input, target) for the plain-Keras
    reference of `model.net`: the 4-channel image and the image (conv, ae), the window round the
    hole and the hole patch (ae_patch), the [-1, 1] input and image (gan's generator)."""
    x = model_input(images, masks)
    if method == "ae_patch":
        p = model.patch_size
        x, _ = hole_window(x, masks, p, model.hole_size)
        y = crop_patch(images, masks, p, model.hole_size)
    elif method == "gan":
        x, y = tf.concat([(2.0 * images - 1.0) * masks, masks], -1), 2.0 * images - 1.0
    else:
        y = images
    return tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(batch, drop_remainder=True) \
        .prefetch(tf.data.AUTOTUNE)


def project_data(images, masks, batch):
    return tf.data.Dataset.from_tensor_slices((images, masks)).repeat() \
        .batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def step_rows(cars, bs):
    """Project step vs plain-Keras step, per method, precision and XLA setting."""
    images = tf.constant(cars[:4096], tf.float32) / 255.0
    masks = HoleMaker(12, seed=0)(images, seed=tf.constant([0, 0]))
    rows = []
    for policy in FLAGS.precisions:
        for xla in FLAGS.xla:
            for method in FLAGS.methods:
                precision.apply(policy)
                keras.utils.set_random_seed(0)
                model = models.build(method, 12, image_size=32, seed=0)
                model.compile(keras.optimizers.Adam(1e-3), jit_compile=xla == "on")
                model.build_optimizers()
                reference = keras.models.clone_model(model.net)
                reference.compile(keras.optimizers.Adam(1e-3), loss="mse",
                                  jit_compile=xla == "on")
                speeds = interleaved(
                    {"project": step_runner(model, project_data(images, masks, bs)),
                     "reference": step_runner(reference, reference_data(method, model, images,
                                                                        masks, bs))},
                    FLAGS.steps, FLAGS.rounds, bs)
                rows.append({"method": method, "precision": policy, "xla": xla, **speeds,
                             "ratio": speeds["project"] / speeds["reference"]})
                print(f"step {method:9s} {policy:15s} xla {xla:3s} project "
                      f"{speeds['project']:7.1f} reference {speeds['reference']:7.1f} images/s "
                      f"ratio {rows[-1]['ratio']:.3f}", flush=True)
    precision.apply("float32")
    return rows


class Timer(keras.callbacks.Callback):
    """Seconds of each epoch, validation and every earlier callback's epoch-end work included
    (give it last)."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)


def project_epochs(method, data, folder):
    """Seconds of each epoch of a real `tfinpaint.main` training (validation, checkpoints,
    TensorBoard, training.json and sample grids included)."""
    precision.apply("float32")
    cfg = config.make(method, epochs=FLAGS.epochs, model_dir=folder, classical=())
    timer = Timer()
    Experiment(cfg, data, log=lambda *a: None).train(callbacks=[timer])
    return timer.seconds


def reference_epochs(method, data):
    """Seconds of each epoch of plain Keras `fit` on the same network, data, batch and
    validation split: holes cut in the tf.data map, `compile(loss="mse")`."""
    precision.apply("float32")
    cfg = config.make(method).resolve(data)
    keras.utils.set_random_seed(0)
    model = models.build(method, cfg.hole_size, image_size=cfg.image_size, seed=0)
    net = keras.models.clone_model(model.net)
    net.compile(keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(
        cfg.learning_rate, FLAGS.epochs * cfg.steps_per_epoch)), loss="mse")
    maker = HoleMaker(cfg.hole_size, seed=0)

    def pairs(images, masks):
        x = model_input(images, masks)
        if model.patch_size:
            return (hole_window(x, masks, model.patch_size, model.hole_size)[0],
                    crop_patch(images, masks, model.patch_size, model.hole_size))
        return x, images

    train = train_pipeline(data.train, cfg.batch_size, 0, maker).map(pairs)
    val = eval_pipeline(data.val, max(cfg.batch_size, 100), maker).map(pairs)
    timer = Timer()
    net.fit(train, validation_data=val, epochs=FLAGS.epochs, steps_per_epoch=cfg.steps_per_epoch,
            callbacks=[timer], verbose=0)
    return timer.seconds


def epoch_rows(data):
    rows = []
    for method in FLAGS.epoch_methods:
        seconds = {"project": [], "reference": []}
        for round_ in range(2):  # interleaved: project, reference, project, reference
            with tempfile.TemporaryDirectory() as tmp:
                seconds["project"] += project_epochs(method, data, tmp)[1:]
            seconds["reference"] += reference_epochs(method, data)[1:]
        median = {k: float(np.median(v)) for k, v in seconds.items()}
        rows.append({"method": method, "project_s": median["project"],
                     "reference_s": median["reference"],
                     "ratio": median["project"] / median["reference"], "all": seconds})
        print(f"epoch {method:9s} tfinpaint.main {median['project']:6.2f} s  plain Keras fit "
              f"{median['reference']:6.2f} s  ratio {rows[-1]['ratio']:.3f}", flush=True)
    return rows


def hole_rows(bs):
    images = tf.zeros([bs, 32, 32, 3])
    rows = []
    for name, maker in (("square", HoleMaker(12, seed=0)),
                        *((kind, HoleMaker(12, seed=0, kind=kind, area=(0.1, 0.4)))
                          for kind in ("strokes", "blotches", "freeform", "mixed"))):
        fn = tf.function(lambda: maker(images))
        fn()
        start, n = time.perf_counter(), 200
        for _ in range(n):
            fn().numpy()
        rows.append({"maker": name, "images_per_s": n * bs / (time.perf_counter() - start)})
        print(f"holes {name:9s} {rows[-1]['images_per_s']:10.0f} images/s", flush=True)
    return rows


def main(argv):
    bs = FLAGS.batch_size or 64  # one batch for every method (ae trains at 32 by default)
    cars = load_dataset("cifar10_cars", FLAGS.data_dir)
    record = {"command": command(), "machine": machine(), "batch_size": bs,
              "native_bf16": precision.cpu_has_native_bf16()}
    record["steps"] = step_rows(take_array(cars.train), bs)
    record["epochs"] = epoch_rows(cars)
    record["holes"] = hole_rows(bs)
    evaluate.save_json(FLAGS.out, record)
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    app.run(main)
