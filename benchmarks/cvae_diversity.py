"""Do the CVAE's draws differ? Default-fill quality, diversity and best-of-K on the cars protocol.

    python benchmarks/cvae_diversity.py --data_dir=../shared/data --epochs=30 \
        --runs_dir=runs/cvae_diversity --variant=cvae_patch: --old_epochs=30

Trains (or resumes) one cvae_patch run per --variant (`name:key=value,...`, the keys any config
field or cvae setting, e.g. `kl1e-3:kl_weight=1e-3,mean_weight=0`) in --runs_dir/<name>, or loads
the run folders of --model_dirs as they are, and scores each on the protocol (the first
--eval_images test cars, 12x12 holes from numpy default_rng(0), noise in the holes, uint8-rounded):

- default fill (`model(...)`, the decoder at the prior mean): hole PSNR, PSNR, SSIM, hole L1
  (and SWD, the realism distance of tfinpaint.realism, where tfinpaint.evaluate computes it);
- --draws draws per image from the exported `sample` path (`model.sample`, z from the prior):
  diversity (tfinpaint.realism.diversity: mean pairwise hole L1 between the draws of an image,
  in [0, 1] units), best-of-K hole PSNR (per image the best draw, then the mean), the mean hole
  PSNR of single draws, and the first draw's SWD;
- --old_epochs > 0 adds the old design (git e867bf7: one encoder on the masked input for both
  q and p, decoder on z + location map only, KL to N(0, I), kl_weight 1e-6) trained here for
  that many epochs with plain `fit` (weights cached in --runs_dir/old_design).

Prints a table and writes --out (rows, training time, machine, command) and the draws grid of
the first model (--grid; rows: masked, original, default fill, then one row per draw).
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import tfinpaint.quiet  # noqa: E402,F401  (first: hides TensorFlow's start-up lines)

import json  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from benchmarks.common import command, machine, value  # noqa: E402
from tfinpaint import build, config, distribute, losses, metrics  # noqa: E402
from tfinpaint import evaluate as protocol  # noqa: E402
from tfinpaint import flags as tfflags  # noqa: E402
from tfinpaint.data import take_array  # noqa: E402
from tfinpaint.experiment import Experiment  # noqa: E402
from tfinpaint.models.base import Inpainter, composite, model_input  # noqa: E402
from tfinpaint.models.cvae import cvae_decoder, cvae_encoder  # noqa: E402
from tfinpaint.models.layers import patch_side  # noqa: E402
from tfinpaint.samples import sample_grid, write_png  # noqa: E402

flags.DEFINE_multi_string("variant", ["cvae_patch:"], "name:key=value,... (a cvae_patch run "
                          "with these settings; flags given on the command line apply to all).")
flags.DEFINE_list("model_dirs", [], "Trained run folders to score as they are (no training).")
flags.DEFINE_integer("old_epochs", 0, "Also train and score the old design for this many "
                     "epochs (0: skip).")
flags.DEFINE_integer("draws", protocol.__dict__.get("DRAWS", 4), "Draws per image.")
flags.DEFINE_integer("grid_images", 10, "Images in the draws grid.")
flags.DEFINE_string("runs_dir", "runs/cvae_diversity", "Where the runs live.")
flags.DEFINE_string("out", "benchmarks/results/cvae_diversity.json", "Results JSON.")
flags.DEFINE_string("grid", "benchmarks/results/samples/cvae_patch_draws.png",
                    "Draws grid of the first model ('' for none).")
tfflags.define("data", "training", "model", "evaluation", exclude=("method", "logical_cpus"))
flags.adopt_module_key_flags(tfflags)
FLAGS = flags.FLAGS
METHOD = "cvae_patch"


# ------------------------------------------------------------------ the old design (baseline)

class OldCVAE(Inpainter):
    """The CVAE as it was (git e867bf7): the encoder reads the masked input, its posterior is
    also what sampling draws from, and the decoder sees z and the location map only."""

    TRACKED = ("loss", "reconstruction", "kl")

    def __init__(self, encoder, decoder, kl_weight=1e-6, seed=None, **kwargs):
        super().__init__(None, seed=seed, **kwargs)
        self.encoder, self.decoder, self.kl_weight = encoder, decoder, kl_weight
        self.noise = keras.random.SeedGenerator(seed)

    def forward(self, images, masks, training=False, noise=None):
        x, restore = self.prepare(model_input(images, masks), masks)
        mean, log_var = self.encoder(x, training=training)
        log_var = tf.clip_by_value(log_var, -16.0, 8.0)
        z = mean if noise is None else mean + tf.exp(0.5 * log_var) * noise
        return restore(self.decoder([z, x[..., 3:]], training=training)), mean, log_var

    def fill(self, images, masks, training=False):
        return self.forward(images, masks, training)[0]

    def sample(self, images, masks, samples, seed):
        latent = self.encoder.outputs[0].shape[-1]
        noise = tf.random.stateless_normal([samples, tf.shape(images)[0], latent], seed)
        fills = tf.map_fn(
            lambda n: composite(images, self.forward(images, masks, False, n)[0], masks), noise)
        return tf.transpose(fills, [1, 0, 2, 3, 4])

    def step(self, data, training):
        images, masks = self.unpack(data)
        latent = self.encoder.outputs[0].shape[-1]
        noise = distribute.normal([tf.shape(images)[0], latent], self.noise) if training else None
        fills, mean, log_var = self.forward(images, masks, training, noise)
        rec = self.reconstruction_loss(images, fills, masks)
        kl = tf.reduce_mean(losses.gaussian_kl(mean, log_var))
        return images, masks, fills, dict(loss=rec + self.kl_weight * kl, reconstruction=rec,
                                          kl=kl)

    def train_step(self, data):
        with tf.GradientTape() as tape:
            images, masks, fills, values = self.step(data, True)
        self.minimize(tape, values["loss"], self.optimizer, self.trainable_variables)
        return self.record(values, images, composite(images, fills, masks), masks, ["hole_psnr"])

    def test_step(self, data):
        images, masks, fills, values = self.step(data, False)
        return self.record(values, images, composite(images, fills, masks), masks, ["hole_psnr"])

    def build_optimizers(self):
        self.optimizer.build(self.trainable_variables)


def old_design(epochs):
    """The old cvae_patch (thesis defaults, kl_weight 1e-6), trained `epochs` epochs with the
    same data, holes, optimizer and schedule as the runs; cached weights are reused."""
    cfg = tfflags.config_from_flags(FLAGS, METHOD, model_dir=os.path.join(FLAGS.runs_dir, "old"))
    splits = build.splits(cfg)
    cfg = cfg.resolve(splits)
    cfg.epochs = epochs
    keras.utils.set_random_seed(cfg.seed)
    s, p = cfg.model, patch_side(cfg.hole_size)
    filters = tuple(s.filters * 2 ** i for i in range(4))
    model = OldCVAE(cvae_encoder(2 * p, filters, s.kernel_size, s.latent_dim),
                    cvae_decoder(2 * p, p, (filters[-1], filters[-2]), s.kernel_size,
                                 s.latent_dim), 1e-6, hole_size=cfg.hole_size, patch_size=p,
                    known_weight=cfg.known_weight, loss=cfg.loss, seed=cfg.seed, name="old")
    steps = cfg.steps_per_epoch
    lr = keras.optimizers.schedules.CosineDecay(cfg.learning_rate, epochs * steps)
    model.compile(keras.optimizers.Adam(lr, beta_1=cfg.beta_1))
    model.build_optimizers()
    path = os.path.join(FLAGS.runs_dir, "old_design", f"epochs{epochs}.weights.h5")
    record = {"epochs": epochs}
    if os.path.exists(path):
        model.load_weights(path)
        print(f"old design: loaded {path}")
    else:
        train, val = build.pipelines(cfg, splits, model.hole_maker)
        start = time.perf_counter()
        history = model.fit(train, epochs=epochs, steps_per_epoch=steps, validation_data=val,
                            verbose=2).history
        record["seconds"] = time.perf_counter() - start
        record["val_kl"] = history["val_kl"][-1]  # KL(q || N(0, I)); q is also what draws
        record["seconds_per_epoch"] = record["seconds"] / epochs
        os.makedirs(os.path.dirname(path), exist_ok=True)
        model.save_weights(path)
    fill = tf.function(lambda x, m: model({"image": x, "mask": m}), reduce_retracing=True)
    return model, fill, splits, record, {"kl_weight": 1e-6, "design": "old (e867bf7)"}


# ------------------------------------------------------------------ runs of the new design

def parse_variant(text):
    name, _, pairs = text.partition(":")
    values = dict(pair.split("=", 1) for pair in pairs.split(",") if pair)
    return name, {k: value(v) for k, v in values.items()}


def trained(name, settings):
    cfg = tfflags.config_from_flags(FLAGS, METHOD, model_dir=os.path.join(FLAGS.runs_dir, name),
                                    **settings)
    exp = Experiment(cfg)
    exp.train()
    return experiment_entry(exp)


def loaded(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        saved = json.load(f)
    fields = {k: v for k, v in saved.items()
              if k in config.FIELDS and k not in ("method", "steps_per_epoch")}
    cfg = config.make(saved["method"], **{**fields, **saved["model"], "model_dir": model_dir})
    return experiment_entry(Experiment(cfg))


def experiment_entry(exp):
    record = exp.training_record()
    training = {k: record.get(k) for k in ("epochs", "steps", "seconds", "seconds_per_epoch")}
    training["val_kl"] = record.get("last_epoch", {}).get("val_kl")  # nats, KL(q || p)
    settings = {**json.loads(exp.cfg.to_json())["model"], "model_dir": exp.cfg.model_dir,
                "learning_rate": exp.cfg.learning_rate, "design": "new"}
    return exp.model, exp.fill_fn(), exp.splits, training, settings


# ------------------------------------------------------------------ scoring

def noisy(images, masks):
    """What the protocol gives a model: [0, 1] images with uniform noise (seed 1) in the holes."""
    x = images.astype(np.float32) / 255.0
    noise = np.random.default_rng(1).random(x.shape, dtype=np.float32)
    return x * masks + noise * (1 - masks)


def diversity(draws, masks):
    """tfinpaint.realism.diversity (mean pairwise hole L1 of the draws of an image, uint8-rounded
    [0, 1] units, averaged over images), or the same computed here if that module lacks it."""
    try:
        from tfinpaint.realism import diversity as shared
    except ImportError:
        shared = None
    if shared is not None:
        return shared(draws, masks)
    d = np.floor(np.clip(draws, 0, 1) * 255 + 0.5) / 255
    hole = masks[..., 0] < 0.5
    k = d.shape[1]
    pairs = [np.abs(d[:, i] - d[:, j]).mean(-1)[hole].reshape(len(d), -1).mean(-1)
             for i in range(k) for j in range(i + 1, k)]
    return float(np.mean(pairs))


def draw(model, images, masks, k, seed=0, batch=250):
    """[N, k, H, W, 3] draws of the `sample` path (noisy holes, the same seed for every batch)."""
    fn = tf.function(lambda x, m: model.sample(x, m, k, tf.constant([seed, 0])), autograph=False)
    x = noisy(images, masks)
    return np.concatenate([fn(tf.constant(x[i:i + batch]), tf.constant(masks[i:i + batch]))
                           .numpy() for i in range(0, len(x), batch)])


def measure(model, fill, images, masks, k):
    truth = tf.constant(images, tf.float32) / 255.0
    start = time.perf_counter()
    default = protocol.model_fill(fill, images, masks)
    row = {f"default_{n}": v for n, v in protocol.score(images, default, masks).items()}
    drawn = draw(model, images, masks, k)
    per_draw = np.stack([metrics.hole_psnr(truth, drawn[:, j], masks).numpy() for j in range(k)])
    row.update(diversity=diversity(drawn, masks),
               best_of_k_hole_psnr=float(per_draw.max(axis=0).mean()),
               draw_hole_psnr=float(per_draw.mean()),
               draws=k, eval_seconds=time.perf_counter() - start)
    swd = protocol.score(images, drawn[:, 0], masks).get("swd")
    if swd is not None:
        row["draw_swd"] = swd
    return row, default, drawn


COLUMNS = (("default_hole_psnr", "default hole PSNR", ".2f"), ("diversity", "diversity", ".4f"),
           ("best_of_k_hole_psnr", "best-of-K hole PSNR", ".2f"),
           ("draw_hole_psnr", "1-draw hole PSNR", ".2f"), ("default_swd", "SWD default", ".1f"),
           ("draw_swd", "SWD draw", ".1f"), ("val_kl", "val KL", ".1f"), ("epochs", "epochs", "d"),
           ("seconds_per_epoch", "s/epoch", ".1f"))


def table(rows, title):
    width = max(len(r["name"]) for r in rows)
    lines = [title, f"{'run':{width}s} | " + " | ".join(h for _, h, _ in COLUMNS)]
    for r in rows:
        cells = [("-" if r.get(k) is None else format(r[k], f)).rjust(len(h))
                 for k, h, f in COLUMNS]
        lines.append(f"{r['name']:{width}s} | " + " | ".join(cells))
    return "\n".join(lines)


def main(argv):
    from absl import logging

    logging.set_verbosity(logging.WARNING)
    entries = [(parse_variant(v)[0], lambda v=v: trained(*parse_variant(v))) for v in FLAGS.variant]
    entries += [(os.path.basename(os.path.normpath(d)), lambda d=d: loaded(d))
                for d in FLAGS.model_dirs]
    if FLAGS.old_epochs:
        entries.append(("old design", lambda: old_design(FLAGS.old_epochs)))
    rows, grid_done = [], not FLAGS.grid
    for name, make in entries:
        model, fill, splits, training, settings = make()
        images = take_array(splits.test, FLAGS.eval_images or 1000)
        masks = protocol.protocol_masks(len(images), images.shape[1], images.shape[2],
                                        model.hole_size)
        row, default, drawn = measure(model, fill, images, masks, FLAGS.draws)
        rows.append({"name": name, **row, **training, "settings": settings})
        print(table(rows[-1:], ""))
        if not grid_done:
            n = FLAGS.grid_images
            write_png(FLAGS.grid, sample_grid(images[:n] / 255.0, masks[:n], default[:n],
                                              *[drawn[:n, j] for j in range(FLAGS.draws)]))
            print(f"wrote {FLAGS.grid} (rows: masked, original, default fill, "
                  f"{FLAGS.draws} draws)")
            grid_done = True
    title = (f"cifar10_cars test: {len(images)} images, {model.hole_size}x{model.hole_size} "
             f"random holes (numpy default_rng(0)), {FLAGS.draws} draws per image")
    print(table(rows, title))
    protocol.save_json(FLAGS.out, {"command": command(), "machine": machine(), "title": title,
                                   "rows": rows})
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    app.run(main)
