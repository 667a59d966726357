"""One experiment: config -> data -> model -> fit (resumable) -> protocol evaluation -> export.

`tfinpaint.main` is the command line over this module; the tuner and benchmarks call it directly.
"""
import dataclasses
import json
import os
import time

import keras
import numpy as np
import tensorflow as tf

from tfinpaint import evaluate as protocol
from tfinpaint import export as exporter
from tfinpaint import models
from tfinpaint.data import (HoleMaker, eval_pipeline, load_dataset, load_masks, take_array,
                            train_pipeline)
from tfinpaint.utils import ConfigError, atomic_write_bytes, atomic_write_text

# Settings that define the network's weights: a model_dir trained with others cannot resume.
ARCHITECTURE_KEYS = ("method", "image_size", "hole_size", "model_kwargs")


@dataclasses.dataclass
class Config:
    method: str = "conv"
    dataset: str = None  # None: the method's (faces64 for dcgan), else cifar10_cars
    data_dir: str = None
    epochs: int = 10
    steps_per_epoch: int = None  # None: one pass over the training images
    batch_size: int = 64
    image_size: int = None  # None: the dataset's own size
    hole_size: int = None  # None: 3/8 of the image side (12 at 32x32, as in the thesis), or the
    # method's share (half for dcgan)
    learning_rate: float = None  # None: the method's default
    lr_schedule: str = "cosine"  # cosine decay to 0 over all epochs, or constant
    hole_weight: float = None  # weight of hole pixels in the loss; 0 = hole only; None: default
    loss: str = None  # mse or l1; None: the method's (l1 for context_encoder), else mse
    holes: str = "model"  # make holes in train_step ("model") or in the tf.data map ("data")
    mask_files: str = None  # train on masks drawn from these files instead of squares
    augment: bool = True
    val_fraction: float = 0.1
    max_train_images: int = None
    eval_images: int = None  # None: the method's, else 1000
    eval_holes: str = None  # protocol holes: random (seeded) or center; None: the method's
    classical: tuple = protocol.CLASSICAL
    seed: int = 0
    samples: int = 1  # fills drawn per image in samples.png (methods that sample)
    sample_every: int = 0  # also write <model_dir>/samples/step_N.png every N training steps
    model_dir: str = None
    export_dir: str = None
    model_kwargs: dict = dataclasses.field(default_factory=dict)  # architecture sizes

    def resolve(self, splits):
        """Fills the defaults that depend on the data and method; checks sizes make sense."""
        method = models.get(self.method)
        cfg = dataclasses.replace(self)
        cfg.dataset = dataset_for(self)
        cfg.image_size = splits.image_size
        fraction = method.defaults.get("hole_fraction", 3 / 8)
        cfg.hole_size = self.hole_size or max(1, round(cfg.image_size * fraction))
        cfg.eval_images = self.eval_images or method.defaults.get("eval_images", 1000)
        cfg.eval_holes = self.eval_holes or method.defaults.get("eval_holes", "random")
        cfg.loss = self.loss or method.defaults.get("loss", "mse")
        if cfg.learning_rate is None:
            cfg.learning_rate = method.defaults.get("learning_rate", 1e-3)
        if cfg.hole_weight is None:
            cfg.hole_weight = method.defaults.get("hole_weight", 0.0)
        if self.samples < 1:
            raise ConfigError(f"samples must be at least 1, got {self.samples}.")
        cfg.model_dir = self.model_dir or os.path.join("runs", self.method)
        cfg.export_dir = self.export_dir or os.path.join(cfg.model_dir, "export")
        if not 1 <= cfg.hole_size < cfg.image_size:
            raise ConfigError(f"hole size {cfg.hole_size} does not fit {cfg.image_size}x"
                             f"{cfg.image_size} images: it must be at least 1 and smaller than the "
                             "image side.")
        n_train = splits.sizes.get("train")
        if self.max_train_images:
            n_train = min(n_train or self.max_train_images, self.max_train_images)
        if n_train is not None and cfg.batch_size > n_train:
            raise ConfigError(f"batch size {cfg.batch_size} is larger than the {n_train} training "
                             "images.")
        if cfg.steps_per_epoch is None:
            if n_train is None:
                raise ConfigError(f"{self.dataset} does not say how many images it has; pass "
                                 "--steps_per_epoch.")
            cfg.steps_per_epoch = n_train // cfg.batch_size
        for name in ("epochs", "steps_per_epoch", "batch_size"):
            if getattr(cfg, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(cfg, name)}.")
        unknown = set(cfg.classical) - set(protocol.CLASSICAL)
        if unknown:
            raise ConfigError(f"unknown classical methods {sorted(unknown)}; choose from "
                              f"{list(protocol.CLASSICAL)}.")
        if cfg.holes not in ("model", "data"):
            raise ConfigError(f"holes must be 'model' or 'data', got {cfg.holes!r}.")
        return cfg

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True, default=list)


def dataset_for(cfg):
    return cfg.dataset or models.get(cfg.method).defaults.get("dataset", "cifar10_cars")


def build_model(cfg, hole_maker_masks=None, hp=None):
    """The compiled model for a resolved config (`hp`: keras-tuner HyperParameters to search)."""
    model = models.build(cfg.method, cfg.hole_size, image_size=cfg.image_size,
                         hole_weight=cfg.hole_weight, loss=cfg.loss, seed=cfg.seed, hp=hp,
                         **cfg.model_kwargs)
    if hole_maker_masks is not None:
        model.hole_maker = HoleMaker(cfg.hole_size, "bank", hole_maker_masks, seed=cfg.seed)
    lr = cfg.learning_rate
    if cfg.lr_schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(lr, cfg.epochs * cfg.steps_per_epoch)
    beta_1 = models.get(cfg.method).defaults.get("beta_1", 0.9)
    model.compile(optimizer=keras.optimizers.Adam(lr, beta_1=beta_1))
    model.build_optimizers()
    return model


def pipelines(cfg, splits, hole_maker):
    """The training and validation datasets of a resolved config."""
    train = splits.train.take(cfg.max_train_images) if cfg.max_train_images else splits.train
    train = train_pipeline(train, cfg.batch_size, cfg.seed,
                           hole_maker if cfg.holes == "data" else None, cfg.augment)
    val = eval_pipeline(splits.val, max(cfg.batch_size, 100),
                        HoleMaker(cfg.hole_size, seed=cfg.seed), cfg.seed)
    return train, val


class Experiment:
    """A model directory: config.json, checkpoints/, logs/, metrics.json, samples.png, export/."""

    def __init__(self, cfg, splits=None, log=print):
        self.log = log
        image_size = cfg.image_size or models.get(cfg.method).defaults.get("image_size")
        self.splits = splits or load_dataset(dataset_for(cfg), cfg.data_dir, image_size,
                                             cfg.val_fraction)
        self.cfg = cfg.resolve(self.splits)
        keras.utils.set_random_seed(self.cfg.seed)
        masks = load_masks(cfg.mask_files, self.cfg.image_size) if cfg.mask_files else None
        self.model = build_model(self.cfg, masks)
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.model.optimizer,
                                              epoch=self.epoch, **self.model.extra_optimizers())
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, os.path.join(self.cfg.model_dir, "checkpoints"), max_to_keep=2)
        self._check_config()
        if self.manager.latest_checkpoint:
            self.checkpoint.restore(self.manager.latest_checkpoint).expect_partial()
            self.log(f"Restored {self.manager.latest_checkpoint} (epoch {int(self.epoch)}).")

    def _check_config(self):
        path = os.path.join(self.cfg.model_dir, "config.json")
        if os.path.exists(path) and self.manager.latest_checkpoint:
            with open(path) as f:
                old = json.load(f)
            new = json.loads(self.cfg.to_json())
            diff = [k for k in ARCHITECTURE_KEYS if old.get(k) != new.get(k)]
            if diff:
                raise ConfigError(
                    f"{self.cfg.model_dir} holds a model trained with other settings ("
                    + ", ".join(f"{k}: {old.get(k)} there, {new.get(k)} now" for k in diff)
                    + "); use another --model_dir or the same settings.")

    def datasets(self):
        return pipelines(self.cfg, self.splits, self.model.hole_maker)

    def train(self):
        cfg = self.cfg
        done = int(self.epoch)
        if done >= cfg.epochs:
            self.log(f"{cfg.model_dir} is already trained for {done} epochs (--epochs={cfg.epochs}); "
                     "raise --epochs to train further.")
            return None
        os.makedirs(cfg.model_dir, exist_ok=True)
        atomic_write_text(os.path.join(cfg.model_dir, "config.json"), cfg.to_json())
        train, val = self.datasets()
        sample = next(iter(val.unbatch().take(8).batch(8)))
        callbacks = [
            EpochCheckpoint(self.manager, self.epoch),
            keras.callbacks.TensorBoard(os.path.join(cfg.model_dir, "logs"), write_graph=False),
            SampleImages(os.path.join(cfg.model_dir, "logs", "samples"), sample),
            keras.callbacks.TerminateOnNaN(),
        ]
        if cfg.sample_every:
            callbacks.append(SampleImages(None, sample, cfg.sample_every, done * cfg.steps_per_epoch,
                                          os.path.join(cfg.model_dir, "samples")))
        self.log(f"Training {cfg.method} on {cfg.dataset} ({cfg.image_size}x{cfg.image_size}, "
                 f"{cfg.hole_size}x{cfg.hole_size} holes made in the {cfg.holes}): epochs {done + 1}"
                 f"-{cfg.epochs}, {cfg.steps_per_epoch} steps of {cfg.batch_size}.")
        start = time.perf_counter()
        history = self.model.fit(train, epochs=cfg.epochs, initial_epoch=done,
                                 steps_per_epoch=cfg.steps_per_epoch, validation_data=val,
                                 callbacks=callbacks, shuffle=False,
                                 verbose=1 if _interactive() else 2)
        seconds = time.perf_counter() - start
        epochs_run = len(next(iter(history.history.values()), []))
        self.log(f"Trained {epochs_run} epochs in {seconds:.1f} s "
                 f"({seconds / max(epochs_run, 1):.1f} s/epoch).")
        self.train_seconds = seconds
        record = self.training_record()
        record = {"epochs": record.get("epochs", 0) + epochs_run,
                  "seconds": record.get("seconds", 0.0) + seconds,
                  "last_epoch": {k: float(v[-1]) for k, v in history.history.items()}}
        record["seconds_per_epoch"] = record["seconds"] / max(record["epochs"], 1)
        protocol.save_json(os.path.join(cfg.model_dir, "training.json"), record)
        return history

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

    def evaluate(self):
        """The protocol on the test split beside the classical methods: a table and metrics.json."""
        cfg = self.cfg
        if not self.manager.latest_checkpoint:
            raise FileNotFoundError(f"no checkpoint in {cfg.model_dir}/checkpoints: train first "
                                    "(--mode=train or all).")
        images = take_array(self.splits.test, cfg.eval_images)
        rows = protocol.evaluate({cfg.method: self.fill_fn()}, images, cfg.hole_size,
                                 cfg.eval_holes == "center", cfg.classical)
        title = (f"{cfg.dataset} test, {len(images)} images {cfg.image_size}x{cfg.image_size}, "
                 f"{cfg.hole_size}x{cfg.hole_size} {cfg.eval_holes} holes (seed 0)")
        self.log(protocol.format_table(rows, title))
        payload = {"method": cfg.method, "dataset": cfg.dataset, "epochs": int(self.epoch),
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
        masks = protocol.protocol_masks(len(images), cfg.image_size, cfg.image_size, cfg.hole_size,
                                        cfg.eval_holes == "center")
        outputs = [protocol.model_fill(self.fill_fn(), images, masks)]
        if cfg.samples > 1 and hasattr(self.model, "sample"):
            x = tf.constant(images, tf.float32) / 255.0
            drawn = self.model.sample(x, tf.constant(masks), cfg.samples, tf.constant([cfg.seed, 1]))
            outputs = [drawn[:, k] for k in range(cfg.samples)]
        write_samples(path, images.astype(np.float32) / 255.0, masks, *outputs)

    def export(self):
        if not self.manager.latest_checkpoint:
            raise FileNotFoundError(f"no checkpoint in {self.cfg.model_dir}/checkpoints: train "
                                    "first (--mode=train or all).")
        path = exporter.export(self.model, os.path.join(self.cfg.export_dir, self.cfg.method),
                               self.model.fixed_size)
        self.log(f"Exported SavedModel to {path}")
        return path


def _interactive():
    import sys

    return sys.stdout.isatty()


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves weights, optimizer state and the epoch count after every epoch."""

    def __init__(self, manager, epoch):
        super().__init__()
        self.manager, self.epoch = manager, epoch

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.assign(epoch + 1)
        self.manager.save(checkpoint_number=epoch + 1)


def sample_grid(images, masks, *outputs, scale=None):
    """uint8 grid, rows as in the thesis figures: masked (hole white), original, then one row
    per fill (several for methods that draw samples)."""
    images, masks = np.asarray(images, np.float32), np.asarray(masks, np.float32)
    masked = images * masks + (1 - masks)
    pad = ((0, 0), (2, 2), (2, 2), (0, 0))
    rows = [np.concatenate(list(np.pad(np.asarray(r, np.float32), pad, constant_values=1.0)),
                           axis=1) for r in (masked, images, *outputs)]
    grid = np.concatenate(rows, axis=0)
    scale = scale or max(1, 128 // images.shape[1])
    grid = grid.repeat(scale, 0).repeat(scale, 1)
    return np.clip(grid * 255 + 0.5, 0, 255).astype(np.uint8)


def write_samples(path, images, masks, *outputs):
    atomic_write_bytes(path, tf.io.encode_png(sample_grid(images, masks, *outputs)).numpy())


class SampleImages(keras.callbacks.Callback):
    """The sample grid of a fixed validation batch: to TensorBoard after every epoch, or, with
    `every`, to <png_dir>/step_N.png every `every` training steps (as the context-encoder
    article does)."""

    def __init__(self, log_dir, batch, every=0, first_step=0, png_dir=None):
        super().__init__()
        self.writer = tf.summary.create_file_writer(log_dir) if log_dir else None
        self.images, self.masks = batch
        self.every, self.step, self.png_dir = every, first_step, png_dir

    def grid(self):
        return sample_grid(self.images, self.masks, self.model.preview(self.images, self.masks))

    def on_epoch_end(self, epoch, logs=None):
        if self.writer is not None:
            with self.writer.as_default():
                tf.summary.image("masked_original_filled", self.grid()[None], step=epoch + 1)
            self.writer.flush()

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.every and self.step % self.every == 0:
            atomic_write_bytes(os.path.join(self.png_dir, f"step_{self.step:07d}.png"),
                               tf.io.encode_png(self.grid()).numpy())
