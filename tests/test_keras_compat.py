"""The private Keras / TensorFlow names tfinpaint.keras_compat relies on still exist: an upgrade
that removes one fails here, by name, instead of somewhere inside fit."""
import inspect

import keras
import tensorflow as tf

from tfinpaint import keras_compat


def test_keras_model_still_has_maybe_symbolic_build():
    method = getattr(keras.Model, "_maybe_symbolic_build", None)
    assert method is not None, "keras.Model._maybe_symbolic_build is gone: revisit BuiltModel"
    assert {"iterator", "data_batch"} <= set(inspect.signature(method).parameters), \
        "keras.Model._maybe_symbolic_build changed its arguments: revisit BuiltModel"
    assert hasattr(keras.Model, "_flatten_layers"), "keras.Model._flatten_layers is gone"


def test_built_model_skips_the_symbolic_build_only_when_everything_is_built():
    inputs = keras.Input((4,))
    net = keras.Model(inputs, keras.layers.Dense(2)(inputs))

    class Wrapper(keras_compat.BuiltModel):
        def __init__(self):
            super().__init__()
            self.net = net
            self.built = True

        def call(self, x):
            return self.net(x)

    model = Wrapper()
    model.compile(optimizer="adam", loss="mse")
    model.optimizer.build(model.trainable_variables)
    model._maybe_symbolic_build(data_batch=None)  # built: returns without touching the data


def test_multi_worker_mode_is_still_readable():
    from tensorflow.python.distribute import collective_all_reduce_strategy as cars

    assert hasattr(cars.CollectiveAllReduceExtended, "_in_multi_worker_mode"), \
        "CollectiveAllReduceExtended._in_multi_worker_mode is gone: revisit in_multi_worker_mode"
    assert keras_compat.in_multi_worker_mode(tf.distribute.get_strategy()) is False
