"""The one tf.data pipeline every method trains and validates from."""
import numpy as np
import tensorflow as tf


def to_float(images):
    return tf.cast(images, tf.float32) / 255.0


def train_pipeline(images, batch_size, seed=0, hole_maker=None, augment=True, cache=True):
    """Endless shuffled batches of float [0, 1] images: `image` batches, or `(image, mask)` when
    a `hole_maker` is given (holes made here in the map instead of in `train_step`).

    Every random choice is stateless and keyed on (seed, batch index), so a run is repeatable
    whatever the parallelism.
    """
    ds = images.cache() if cache else images
    ds = ds.shuffle(4096, seed=seed, reshuffle_each_iteration=True).repeat()
    ds = ds.batch(batch_size, drop_remainder=True).enumerate()

    def prepare(index, batch):
        batch = to_float(batch)
        key = tf.stack([tf.cast(seed, tf.int64), index])
        if augment:
            batch = tf.image.stateless_random_flip_left_right(batch, key)
        if hole_maker is None:
            return batch
        return batch, hole_maker(batch, seed=key + [0, 1 << 20])

    return ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def eval_pipeline(images, batch_size, hole_maker, seed=0):
    """Finite `(image, mask)` batches with the same holes on every pass (cached), so validation
    figures compare across epochs."""
    ds = images.batch(batch_size).enumerate()

    def prepare(index, batch):
        batch = to_float(batch)
        return batch, hole_maker(batch, seed=tf.stack([tf.cast(seed, tf.int64) + 7919, index]))

    return ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE).cache().prefetch(tf.data.AUTOTUNE)


def take_array(ds, n=None):
    """The first `n` images of a dataset as one numpy uint8 array."""
    ds = ds.take(n) if n else ds
    batches = list(ds.batch(1024).as_numpy_iterator())
    return np.concatenate(batches) if batches else np.zeros((0,), np.uint8)
