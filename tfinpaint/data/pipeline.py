"""The one tf.data pipeline every method trains and validates from."""
import numpy as np
import tensorflow as tf

from tfinpaint.distribute import FLIP, stream_key


def to_float(images):
    return tf.cast(images, tf.float32) / 255.0


def train_pipeline(images, batch_size, seed=0, hole_maker=None, augment=True, cache=True, skip=0,
                   crop=None):
    """Endless shuffled batches of float [0, 1] images: `image` batches, or `(image, mask)` when
    a `hole_maker` is given (holes made here in the map instead of in `train_step`; squares or
    free-form holes alike).

    Every random choice is keyed on the seed and a position in the stream (the pass over the
    data for the shuffle order, the batch index for flips and holes), so a run is repeatable
    whatever the parallelism, and every iterator of the dataset yields the same stream (Keras
    under tf.distribute draws a batch from a first iterator before training on a second; the
    tuner fits every trial afresh). `skip` starts the stream that many batches in, so a resumed
    run sees the batches the uninterrupted one would have seen (the skipped ones are shuffled
    and batched, not decoded or augmented).

    `crop(image, key)` (photos of any size, `Splits.crop`): each image of the stream is cut to a
    square by it, keyed on the seed and the image's position in the stream.
    """
    ds = images.cache() if cache else images

    def one_pass(index):
        # A new order on each pass, keyed on (seed, pass): inside this traced function set_seed
        # sets only the function graph's seed, which lets the shuffle take the pass index as its
        # op seed (with a global seed of 0, TF would compare a tensor seed to 0 in Python).
        tf.random.set_seed(seed + 1)
        return ds.shuffle(4096, seed=index, reshuffle_each_iteration=False)

    ds = tf.data.Dataset.range(1 << 62).flat_map(one_pass)
    if crop is not None:
        ds = ds.enumerate().skip(skip * batch_size).map(
            lambda i, image: crop(image, tf.stack([tf.cast(seed, tf.int64) + 104729, i])),
            num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.batch(batch_size, drop_remainder=True).enumerate(start=skip)
    else:
        ds = ds.batch(batch_size, drop_remainder=True).enumerate()
        if skip:
            ds = ds.skip(skip)

    def prepare(index, batch):
        batch = to_float(batch)
        key = tf.stack([tf.cast(seed, tf.int64), index])
        if augment:
            batch = tf.image.stateless_random_flip_left_right(batch, stream_key(key, FLIP))
        if hole_maker is None:
            return batch
        return batch, hole_maker(batch, seed=key)  # its own streams of this key

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
