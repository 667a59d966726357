"""Every place tfinpaint relies on private Keras / TensorFlow internals, in one module.

Each workaround says what it works around; `tests/test_keras_compat.py` checks that the private
names still exist with the expected shape, so a Keras or TensorFlow upgrade that removes one fails
that test by name instead of breaking training somewhere deep inside `fit`.
"""
import keras
import tensorflow as tf


class BuiltModel(keras.Model):
    """A `keras.Model` whose layers and optimizers are built when it is made.

    Keras 3 (TF backend, under a tf.distribute strategy) draws a batch in the private
    `Model._maybe_symbolic_build` and reduces it over replicas before fit/evaluate, only to build
    what is not built yet. Under MultiWorkerMirroredStrategy that reduce fails on (image, mask)
    batches ("Attempt to convert a value (PerReplica ...) to a Tensor"), so nothing is drawn when
    nothing is left to build (private: `_maybe_symbolic_build`, `_flatten_layers`)."""

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        built = all(layer.built for layer in self._flatten_layers())
        if built and (self.optimizer is None or self.optimizer.built):
            return
        super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)


def in_multi_worker_mode(strategy):
    """Whether `strategy` runs over several workers (private: `extended._in_multi_worker_mode`).
    Keras 3 reduces step logs there with `strategy.reduce("MEAN", v, axis=0)`, which fails on
    scalars (tensorflow/tensorflow#72388); `distribute.step_logs` works around it."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return False
    return strategy.extended._in_multi_worker_mode()
