"""Is anything but the network the bottleneck when training on photos? In one run:
1. the hole makers at the photo training size (square, freeform and the photo families thin,
   medium, thick, photo), images/s of masks;
2. the photo input pipeline as training uses it (decode once and cache, random multi-scale crop,
   flip, photo holes made in the map): images/s on its first pass (decoding) and once cached;
3. the training step of each --step_methods on batches already in memory (images/s), so the
   pipeline's rate reads as a multiple of what training consumes; ffc's beside the same networks
   and losses in a plain-Keras train_step (interleaved rounds: the ratio).

    python benchmarks/photo_speed.py --data_dir=../shared/data

Writes --out (JSON with the machine and the command).
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import tfinpaint.quiet  # noqa: E402,F401  (first: hides TensorFlow's start-up lines)

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from benchmarks import speed  # noqa: E402  (its flags: --batch_size, --data_dir, --steps, ...)
from benchmarks.common import command, machine  # noqa: E402
from tfinpaint import build, config, evaluate  # noqa: E402
from tfinpaint.data import HoleMaker  # noqa: E402

flags.DEFINE_integer("size", 256, "Crop side.")
flags.DEFINE_list("step_methods", ["unet", "ffc"], "Methods whose training step is timed.")
flags.DEFINE_integer("pipeline_batches", 60, "Batches timed per pipeline pass.")
flags.DEFINE_string("photo_out", "benchmarks/results/speed_photos_cpu.json", "Results JSON.")
FLAGS = flags.FLAGS


def maker_rows(bs, size):
    images = tf.zeros([bs, size, size, 3])
    rows = []
    makers = [("square", HoleMaker(size * 3 // 8, seed=0))] + [
        (kind, HoleMaker(12, seed=0, kind=kind)) for kind in
        ("freeform", "thin", "medium", "thick", "photo")]
    for name, maker in makers:
        fn = tf.function(lambda m=maker: m(images))
        fn()
        start, n = time.perf_counter(), 20
        for _ in range(n):
            fn().numpy()
        rows.append({"maker": name, "images_per_s": n * bs / (time.perf_counter() - start)})
        print(f"holes {name:9s} {rows[-1]['images_per_s']:8.0f} images/s ({size}x{size})",
              flush=True)
    return rows


def config_of(method, bs):
    return config.make(method, dataset="photos", data_dir=FLAGS.data_dir, image_size=FLAGS.size,
                       holes_kind="photo", holes="data", batch_size=bs,
                       precision="mixed_bfloat16")


def pipeline_rows(bs):
    cfg = config_of("unet", bs)
    data = build.splits(cfg)
    cfg = cfg.resolve(data)
    train, _ = build.pipelines(cfg, data, build.hole_maker(cfg))
    it, rows = iter(train), []
    per_pass = data.sizes["train"] // bs
    for name, batches in (("first pass (decoding)", min(FLAGS.pipeline_batches, per_pass)),
                          ("rest of the first pass", per_pass - FLAGS.pipeline_batches),
                          ("cached", FLAGS.pipeline_batches)):
        start = time.perf_counter()
        for _ in range(batches):
            next(it)
        rate = batches * bs / (time.perf_counter() - start)
        rows.append({"pipeline": name, "images_per_s": rate})
        print(f"pipeline {name:24s} {rate:8.1f} images/s", flush=True)
    return rows, train


class PlainAdversarial(keras.Model):
    """The plain-Keras reference of ffc's step (the keras-io "GAN overriding train_step"
    pattern): the same generator and discriminator (clones), the same losses written inline, the
    same order (one generator pass; the discriminator updated on the detached fill, R1 on its
    real pass; the generator against the updated discriminator)."""

    def __init__(self, project):
        super().__init__()
        self.g = keras.models.clone_model(project.net)
        self.d = keras.models.clone_model(project.discriminator)
        self.p = project

    def compile(self, g_optimizer, d_optimizer):
        super().compile()
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer

    def train_step(self, data):
        images, masks = data
        p, hole = self.p, 1.0 - masks
        with tf.GradientTape() as g_tape:
            fills = self.g(tf.concat([images * masks, masks], -1), training=True)
            fake = images * masks + fills * hole
            with g_tape.stop_recording():
                with tf.GradientTape() as d_tape:
                    with tf.GradientTape() as r_tape:
                        r_tape.watch(images)
                        real_logits = self.d(2.0 * images - 1.0, training=True)[0]
                        total = tf.reduce_sum(real_logits)
                    grads = r_tape.gradient(total, images)
                    r1 = 0.5 * p.r1_gamma * tf.reduce_mean(tf.reduce_sum(tf.square(grads),
                                                                         [1, 2, 3]))
                    fake_logits = self.d(2.0 * tf.stop_gradient(fake) - 1.0, training=True)[0]
                    cell_hole = 1.0 - tf.image.resize(masks, tf.shape(fake_logits)[1:3], "area")
                    d_loss = (tf.reduce_mean(tf.nn.softplus(-real_logits))
                              + tf.reduce_mean(tf.nn.softplus(fake_logits) * cell_hole
                                               + tf.nn.softplus(-fake_logits) * (1 - cell_hole))
                              ) / 2.0 + r1
                d_vars = self.d.trainable_variables
                self.d_optimizer.apply(d_tape.gradient(d_loss, d_vars), d_vars)
            fake_logits, fake_features = self.d(2.0 * fake - 1.0, training=True)
            _, real_features = self.d(2.0 * images - 1.0, training=True)
            weights = hole + p.known_weight * masks
            l1 = tf.reduce_sum(tf.abs(fills - images) * weights) / (3.0 * tf.reduce_sum(weights))
            g_loss = (l1 + p.adversarial_weight * tf.reduce_mean(tf.nn.softplus(-fake_logits))
                      + p.feature_weight * tf.add_n([
                          tf.reduce_mean(tf.abs(tf.cast(f, tf.float32)
                                                - tf.stop_gradient(tf.cast(r, tf.float32))))
                          for f, r in zip(fake_features, real_features)]) / len(fake_features))
        g_vars = self.g.trainable_variables
        self.g_optimizer.apply(g_tape.gradient(g_loss, g_vars), g_vars)
        return {"g_loss": g_loss, "d_loss": d_loss}


def step_rows(train, bs):
    batches = [b for _, b in zip(range(8), train)]  # in memory: the step alone is timed
    ds = tf.data.Dataset.from_tensors(batches[0]).concatenate(
        tf.data.Dataset.from_tensor_slices(tuple(tf.stack(x) for x in zip(*batches[1:])))).repeat()
    rows = []
    for method in FLAGS.step_methods:
        cfg = config_of(method, bs)
        cfg = cfg.resolve(build.splits(cfg))
        model = build.model(cfg)
        runners = {method: speed.step_runner(model, ds)}
        if method == "ffc":  # the pairing: the same networks and losses in plain Keras
            plain = PlainAdversarial(model)
            plain.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
            runners["plain Keras"] = speed.step_runner(plain, ds)
        got = speed.interleaved(runners, FLAGS.steps, FLAGS.rounds, bs)
        row = {"method": method, "images_per_s": got[method],
               "parameters": model.net.count_params()}
        if "plain Keras" in got:
            row.update(plain_images_per_s=got["plain Keras"],
                       ratio=got[method] / got["plain Keras"])
        rows.append(row)
        print(f"step {method:6s} {got[method]:8.2f} images/s ({FLAGS.size}x{FLAGS.size}, batch "
              f"{bs}, bf16)" + (f"; plain Keras {row['plain_images_per_s']:.2f}, ratio "
                                f"{row['ratio']:.3f}" if "ratio" in row else ""), flush=True)
    return rows


def main(argv):
    bs = FLAGS.batch_size or 8
    record = {"command": command(), "machine": machine(), "batch_size": bs, "size": FLAGS.size,
              "load_average": os.getloadavg()}
    record["holes"] = maker_rows(bs, FLAGS.size)
    record["pipeline"], train = pipeline_rows(bs)
    record["steps"] = step_rows(train, bs)
    cached = record["pipeline"][-1]["images_per_s"]
    for row in record["steps"]:
        row["pipeline_over_step"] = cached / row["images_per_s"]
        print(f"the cached pipeline makes {row['pipeline_over_step']:.1f}x what {row['method']} "
              "trains on", flush=True)
    record["load_average_after"] = os.getloadavg()
    evaluate.save_json(FLAGS.photo_out, record)
    print(f"wrote {FLAGS.photo_out}")


if __name__ == "__main__":
    app.run(main)
