"""The Keras callbacks of a training run: step checkpoints, training.json, sample grids."""
import os
import time

import keras
import tensorflow as tf

from tfinpaint.evaluate import save_json
from tfinpaint.samples import sample_grid, write_png


def scalar(variable):
    """A scalar variable's value (also a MirroredVariable's, which int() refuses)."""
    return int(variable.numpy())


class StepCheckpoint(keras.callbacks.Callback):
    """Saves weights, optimizer states, random states and the position in training after every
    epoch and every `every` training steps (0: epochs only); checkpoints are numbered by step.
    `tf.train.CheckpointManager` writes the files first and then points `checkpoint` at them, so
    a process killed while saving resumes from the previous checkpoint."""

    def __init__(self, manager, epoch, step_in_epoch, steps_per_epoch, every=0):
        super().__init__()
        self.manager, self.epoch, self.step_in_epoch = manager, epoch, step_in_epoch
        self.steps_per_epoch, self.every = steps_per_epoch, every

    def on_train_begin(self, logs=None):
        self.step = scalar(self.model.optimizer.iterations)
        self.within = scalar(self.step_in_epoch)

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        self.within += 1
        if self.every and self.step % self.every == 0 and self.within < self.steps_per_epoch:
            self.step_in_epoch.assign(self.within)
            self.manager.save(checkpoint_number=self.step)

    def on_epoch_end(self, epoch, logs=None):
        self.within = 0
        self.epoch.assign(epoch + 1)
        self.step_in_epoch.assign(0)
        self.manager.save(checkpoint_number=self.step)


class TrainingRecord(keras.callbacks.Callback):
    """training.json after every epoch (atomically): epochs and steps trained, seconds spent over
    every run of the model_dir (a killed run loses only its unfinished epoch's time), the
    distribution setting and the last epoch's logs."""

    def __init__(self, path, previous, experiment):
        super().__init__()
        self.path, self.experiment = path, experiment
        self.seconds = float(previous.get("seconds", 0.0))

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        exp = self.experiment
        self.seconds += time.perf_counter() - self.start
        epochs = scalar(exp.epoch)
        record = {"epochs": epochs, "steps": exp.steps_done(), "seconds": self.seconds,
                  "seconds_per_epoch": self.seconds / max(epochs, 1),
                  "distribute": exp.cfg.distribute, "replicas": exp.replicas,
                  "global_batch_size": exp.global_batch_size,
                  "last_epoch": {k: float(v) for k, v in (logs or {}).items()}}
        save_json(self.path, record)


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
            write_png(os.path.join(self.png_dir, f"step_{self.step:07d}.png"), self.grid())
