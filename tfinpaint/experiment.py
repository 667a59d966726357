"""One run folder: config -> data -> model -> fit (resumable) -> protocol evaluation -> export.

`tfinpaint.main` is the command line over this class; the benchmarks use it directly.
"""
import json
import os
import shutil
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from tfinpaint import build, distribute, models, precision, pretrained
from tfinpaint import evaluate as protocol
from tfinpaint import export as exporter
from tfinpaint.callbacks import SampleImages, StepCheckpoint, TrainingRecord, scalar
from tfinpaint.config import architecture_changes
from tfinpaint.data import take_array
from tfinpaint.data.photo_holes import PHOTO_KINDS
from tfinpaint.samples import tile, write_png, write_samples
from tfinpaint.utils import ConfigError, atomic_write_text


def random_states(model):
    """The model's random-generator states (hole maker, noise, dropout): checkpointed, so a
    resumed run draws what the uninterrupted one would have drawn."""
    return [v.value for v in model.variables if v.path.endswith("seed_generator_state")]


class Experiment:
    """A model directory: config.json, checkpoints/, logs/, training.json, metrics.json,
    samples.png, export/.

    `cfg` comes from `tfinpaint.config.make`. Under a tf.distribute strategy (`cfg.distribute`,
    or `strategy`) the model, its optimizers and the checkpoint live in `strategy.scope()`;
    `cfg.batch_size` is per replica and `global_batch_size` = batch_size x replicas. In a
    multi-worker cluster every worker trains and checkpoints (into its own scratch folder), and
    only the chief writes the run's files."""

    def __init__(self, cfg, splits=None, log=print, strategy=None):
        self.log = log
        # First: multi_worker and tpu strategies configure the runtime before any other TF work.
        self.strategy = strategy or distribute.strategy(cfg.distribute, cfg.tpu)
        self.replicas = self.strategy.num_replicas_in_sync
        self.is_chief = distribute.is_chief(self.strategy)
        cfg.check()
        self.splits = splits or build.splits(cfg)
        self.cfg = cfg.resolve(self.splits, self.replicas)
        self.global_batch_size = self.cfg.batch_size * self.replicas
        keras.utils.set_random_seed(self.cfg.seed)
        bank = build.masks(self.cfg)
        checkpoints = os.path.join(self.cfg.model_dir, "checkpoints")
        # Non-chief workers save too (saving may take part in collectives) but into scratch.
        self.scratch = None if self.is_chief else os.path.join(
            self.cfg.model_dir, f".worker-{distribute.worker(self.strategy)[1]}")
        with self.strategy.scope():
            self.model = build.model(self.cfg, bank)
            self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)  # epochs finished
            self.step_in_epoch = tf.Variable(0, dtype=tf.int64, trainable=False)  # of the next
            self.checkpoint = tf.train.Checkpoint(
                model=self.model, optimizer=self.model.optimizer, epoch=self.epoch,
                step_in_epoch=self.step_in_epoch, rng=random_states(self.model),
                **self.model.extra_optimizers())
            self.manager = tf.train.CheckpointManager(
                self.checkpoint, os.path.join(self.scratch, "checkpoints") if self.scratch
                else checkpoints, max_to_keep=2)
        self._check_config()
        latest = tf.train.latest_checkpoint(checkpoints)  # the chief's, on every worker
        if not latest and self.cfg.init_from:
            self._warm_start(self.cfg.init_from)
        if latest:
            self.checkpoint.restore(latest).expect_partial()
            within = scalar(self.step_in_epoch)
            self.log(f"Restored {latest} (epoch {scalar(self.epoch)}"
                     + (f" + {within} steps" if within else "")
                     + f", step {self.steps_done()}).")

    def _warm_start(self, folder):
        """The networks' weights (not the optimizers', epochs or random states) from the latest
        checkpoint of run folder `folder`, trained with the same architecture settings (any
        image size for a fully convolutional method); `pretrained:NAME`: the generator of the
        shipped model NAME (checksummed; the discriminators start afresh), to fine-tune it."""
        if folder.startswith(pretrained.PREFIX):
            return self._warm_start_pretrained(folder.removeprefix(pretrained.PREFIX))
        folder = os.path.expanduser(folder)
        source = tf.train.latest_checkpoint(os.path.join(folder, "checkpoints"))
        if not source:
            raise ConfigError(f"--init_from={folder}: no checkpoint in {folder}/checkpoints.")
        with open(os.path.join(folder, "config.json")) as f:
            old = json.load(f)
        if not (self.model.fixed_size or self.model.patch_size):
            # fully convolutional: any size (the hole size follows the image's)
            old.update(image_size=self.cfg.image_size, hole_size=self.cfg.hole_size)
        deeper = self._check_warm_start(folder, old)
        into = models.build(old["method"], self.cfg.hole_size, image_size=self.cfg.image_size,
                            seed=0, **old["model"]) if deeper else self.model
        # The networks by the attribute names the checkpoint knows them by (not the model's
        # optimizer or random states).
        nets = [into.net, *getattr(into, "discriminators", ())]
        networks = {k: v for k, v in vars(into).items()
                    if isinstance(v, keras.Model) and any(v is n for n in nets)}
        tf.train.Checkpoint(model=tf.train.Checkpoint(**networks)).restore(source) \
            .expect_partial().assert_existing_objects_matched()
        if deeper:
            self.model.deepen_from(into.net)
            for mine, theirs in zip(self.model.discriminators, into.discriminators):
                mine.set_weights(theirs.get_weights())
        self.log(f"Started from the weights of {source}"
                 + (f" ({old['model']['blocks']} -> {self.cfg.model.blocks} blocks)." if deeper
                    else "."))

    def _check_warm_start(self, source, old):
        """Refuses a warm start from weights trained with other settings (`old`: their config),
        but for more `blocks` in a model that can deepen (`deepen_from`): returns whether it
        deepens."""
        changes = architecture_changes(old, self.cfg, weights_only=True)
        deeper = (hasattr(self.model, "deepen_from") and len(changes) == 1
                  and changes[0].startswith("blocks:")
                  and (old.get("model") or {}).get("blocks", 0) < self.cfg.model.blocks)
        if changes and not deeper:
            raise ConfigError(f"--init_from={source} was trained with other settings "
                              f"({', '.join(changes)}).")
        return deeper

    def _warm_start_pretrained(self, name):
        try:
            info = pretrained.manifest(name)
        except pretrained.PretrainedError as e:
            raise ConfigError(f"--init_from={pretrained.PREFIX}{name}: {e}") from None
        old = {"method": info["method"], "model": info["settings"],
               "image_size": self.cfg.image_size, "hole_size": self.cfg.hole_size}
        deeper = self._check_warm_start(pretrained.PREFIX + name, old)
        source = pretrained.load(name).net
        if deeper:
            self.model.deepen_from(source)
        else:
            self.model.net.set_weights(source.get_weights())
        self.log(f"Started from the shipped generator {name!r} ({info['sha256'][:12]}"
                 + (f", {info['settings']['blocks']} -> {self.cfg.model.blocks} blocks)."
                    if deeper else ")."))

    @property
    def latest_checkpoint(self):
        return tf.train.latest_checkpoint(os.path.join(self.cfg.model_dir, "checkpoints"))

    def steps_done(self):
        """Training steps taken so far (every train_step applies the optimizer once)."""
        return scalar(self.model.optimizer.iterations)

    def _check_config(self):
        """Refuses a run folder whose checkpoints were trained with other ARCHITECTURE_KEYS."""
        path = os.path.join(self.cfg.model_dir, "config.json")
        if os.path.exists(path) and self.latest_checkpoint:
            with open(path) as f:
                changes = architecture_changes(json.load(f), self.cfg)
            if changes:
                raise ConfigError(f"{self.cfg.model_dir} holds a model trained with other "
                                  f"settings ({', '.join(changes)}); use another --model_dir or "
                                  "the same settings.")

    def datasets(self, skip=0):
        return build.pipelines(self.cfg, self.splits, self.model.hole_maker, self.replicas, skip)

    def _callbacks(self, val, extra):
        cfg = self.cfg
        logs = os.path.join(self.scratch or cfg.model_dir, "logs")
        sample = next(iter(val.unbatch().take(8).batch(8)))
        callbacks = [StepCheckpoint(self.manager, self.epoch, self.step_in_epoch,
                                    cfg.steps_per_epoch, cfg.checkpoint_every_steps),
                     keras.callbacks.TensorBoard(logs, write_graph=False),
                     keras.callbacks.TerminateOnNaN()]
        if self.is_chief:
            callbacks += [TrainingRecord(os.path.join(cfg.model_dir, "training.json"),
                                         self.training_record(), self),
                          SampleImages(os.path.join(logs, "samples"), sample)]
        callbacks += list(extra)
        if cfg.sample_every and self.is_chief:
            callbacks.append(SampleImages(None, sample, cfg.sample_every, self.steps_done(),
                                          os.path.join(cfg.model_dir, "samples")))
        return callbacks

    def train(self, callbacks=()):
        """Trains up to cfg.epochs, resuming where the last checkpoint left off (mid-epoch too:
        the interrupted epoch runs only its remaining steps, on the batches it had not yet seen,
        so a run ends with epochs x steps_per_epoch steps however often it was killed).
        `callbacks`: extra Keras callbacks."""
        cfg, steps = self.cfg, self.cfg.steps_per_epoch
        done, within = scalar(self.epoch), scalar(self.step_in_epoch)
        if within >= steps:  # steps_per_epoch lowered since: that epoch is complete
            done, within = done + 1, 0
            self.epoch.assign(done)
            self.step_in_epoch.assign(0)
        if done >= cfg.epochs:
            self.log(f"{cfg.model_dir} is already trained for {done} epochs (--epochs="
                     f"{cfg.epochs}); raise --epochs to train further.")
            return None
        os.makedirs(cfg.model_dir, exist_ok=True)
        if self.is_chief:
            atomic_write_text(os.path.join(cfg.model_dir, "config.json"), cfg.to_json())
        _, val = self.datasets()
        callbacks = self._callbacks(val, callbacks)
        per = f" ({cfg.batch_size} per replica x {self.replicas} replicas, {cfg.distribute})" \
            if self.replicas > 1 or cfg.distribute != "none" else ""
        holes = (f"{cfg.hole_size}x{cfg.hole_size} holes" if cfg.holes_kind == "square" else
                 f"{cfg.holes_kind} holes (LaMa's families)" if cfg.holes_kind in PHOTO_KINDS
                 else f"{cfg.holes_kind} holes of {cfg.hole_area_min:.0%}-{cfg.hole_area_max:.0%}")
        self.log(f"Training {cfg.method} on {cfg.dataset} ({cfg.image_size}x{cfg.image_size}, "
                 f"{holes} made in the {cfg.holes}; {precision.describe(cfg.precision)}): epochs "
                 f"{done + 1}-{cfg.epochs}, {steps} steps of {self.global_batch_size}{per}.")
        start = time.perf_counter()
        # A resumed partial epoch, then whole ones. Each fit starts a fresh training stream at
        # the step reached, so the batches are those an uninterrupted run would have seen.
        fits = [(done, done + 1, steps - within)] if within else []
        if done + bool(within) < cfg.epochs:
            fits.append((done + bool(within), cfg.epochs, steps))
        history = {}
        for first, last, n in fits:
            if n != steps:
                self.log(f"Resuming epoch {first + 1} at step {within + 1}/{steps}.")
            train, _ = self.datasets(skip=self.steps_done())
            h = self.model.fit(train, epochs=last, initial_epoch=first, steps_per_epoch=n,
                               validation_data=val, callbacks=callbacks, shuffle=False,
                               verbose=1 if sys.stdout.isatty() else 2)
            for k, v in h.history.items():
                history.setdefault(k, []).extend(v)
            if self.model.stop_training:  # TerminateOnNaN
                break
        seconds = time.perf_counter() - start
        epochs_run = len(next(iter(history.values()), []))
        self.log(f"Trained {epochs_run} epochs in {seconds:.1f} s "
                 f"({seconds / max(epochs_run, 1):.1f} s/epoch), {self.steps_done()} steps in all.")
        self.train_seconds = seconds
        if self.scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)
        h.history = history
        return h

    def training_record(self):
        """Epochs trained, seconds spent (over every resumed run) and the last epoch's logs."""
        path = os.path.join(self.cfg.model_dir, "training.json")
        if not os.path.exists(path):
            return {}
        with open(path) as f:
            return json.load(f)

    def fill_fn(self):
        model = self.model
        return tf.function(lambda x, m: model({"image": x, "mask": m}, training=False),
                           reduce_retracing=True)

    def _require_checkpoint(self):
        if not self.latest_checkpoint:
            raise FileNotFoundError(f"no checkpoint in {self.cfg.model_dir}/checkpoints: train "
                                    "first (--mode=train or all).")

    def evaluate(self):
        """The protocol on the test split beside the classical methods: a table and metrics.json."""
        self._require_checkpoint()
        cfg = self.cfg
        images = take_array(self.splits.test, cfg.eval_images)
        samplers = {}
        if hasattr(self.model, "sample"):  # methods that draw: their diversity column
            model = self.model
            samplers[cfg.method] = lambda x, m, k, seed: model.sample(x, m, k,
                                                                      tf.constant([seed, 1]))
        rows = protocol.evaluate({cfg.method: self.fill_fn()}, images, cfg.hole_size,
                                 classical=cfg.classical, samplers=samplers,
                                 real=take_array(self.splits.train_squares(), len(images)),
                                 holes=cfg.eval_holes)
        title = (f"{cfg.dataset} test, {len(images)} images {cfg.image_size}x{cfg.image_size}, "
                 f"{protocol.describe(cfg.eval_holes, cfg.hole_size)}")
        self.log(protocol.format_table(rows, title))
        payload = {"method": cfg.method, "dataset": cfg.dataset, "epochs": scalar(self.epoch),
                   "protocol": {"images": len(images), "hole": cfg.hole_size,
                                "holes": cfg.eval_holes, "seed": 0},
                   "rows": rows, "config": json.loads(cfg.to_json())}
        if getattr(self, "train_seconds", None):
            payload["train_seconds"] = self.train_seconds
        protocol.save_json(os.path.join(cfg.model_dir, "metrics.json"), payload)
        self.write_samples(os.path.join(cfg.model_dir, "samples.png"), images[:8])
        return rows

    def write_samples(self, path, images):
        """The sample grid of `images` (uint8) with the protocol's first holes."""
        cfg = self.cfg
        masks = protocol.eval_masks(cfg.eval_holes, len(images), cfg.image_size,
                                    cfg.image_size, cfg.hole_size)
        outputs = [protocol.model_fill(self.fill_fn(), images, masks)]
        if cfg.samples > 1 and hasattr(self.model, "sample"):
            x = tf.constant(images, tf.float32) / 255.0
            drawn = self.model.sample(x, tf.constant(masks), cfg.samples,
                                      tf.constant([cfg.seed, 1]))
            outputs = [drawn[:, k] for k in range(cfg.samples)]
        write_samples(path, images.astype(np.float32) / 255.0, masks, *outputs)
        if hasattr(self.model, "generate"):  # unconditional samples: the DCGAN's G(z)
            write_png(os.path.join(os.path.dirname(path), "generated.png"),
                      tile(self.model.generate(64, tf.constant([cfg.seed, 2])).numpy()))

    def export(self):
        """Exports the model in cfg.export_format under <export_dir>/<method>."""
        self._require_checkpoint()
        path = export_model(self.model, self.cfg)
        self.log(f"Exported {self.cfg.export_format} to {_paths(path)}")
        return path


def export_model(model, cfg, extra_files=None):
    """`model` as cfg.export_format under <cfg.export_dir>/<method>: a new SavedModel version
    (its path), or TFLite files for cfg.image_size x image_size images ({variant: path})."""
    base = os.path.join(cfg.export_dir, cfg.method)
    if cfg.export_format == "tflite":
        return exporter.export_tflite(model, base, cfg.image_size)
    return exporter.export(model, base, model.fixed_size, extra_files=extra_files)


def _paths(path):
    return ", ".join(map(str, path.values())) if isinstance(path, dict) else path
