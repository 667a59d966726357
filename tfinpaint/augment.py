"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN
Training"): colour, translation and cutout applied to the real and the fake images every time
the discriminator sees them, in both players' steps. Every op is differentiable in the images,
so the generator learns through the augmentation; the discriminator never sees an un-augmented
image and cannot memorise a small training set.

Images are in [-1, 1] (the GAN range); draws are stateless, keyed on `seed` (int32 [2]).
"""
import tensorflow as tf

POLICY = ("color", "translation", "cutout")


def _uniform(key, batch):
    return tf.random.stateless_uniform([batch, 1, 1, 1], key)


def _shift(x, offsets, axis):
    """x shifted by `offsets` ([B] ints) along `axis` (1 or 2); what comes in is zeros."""
    n = tf.shape(x)[axis]
    idx = tf.range(n)[None, :] - offsets[:, None]
    valid = tf.cast((idx >= 0) & (idx < n), x.dtype)
    out = tf.gather(x, tf.clip_by_value(idx, 0, n - 1), axis=axis, batch_dims=1)
    shape = [-1, n, 1, 1] if axis == 1 else [-1, 1, n, 1]
    return out * tf.reshape(valid, shape)


def diff_augment(images, seed, policy=POLICY, translation=0.125, cutout=0.5):
    """`images` augmented per image: brightness, saturation, contrast ("color"), a shift of up to
    `translation` of the side ("translation"), a zeroed square of `cutout` of the side
    ("cutout"), as in the paper's reference policy."""
    keys = tf.random.experimental.stateless_split(tf.cast(seed, tf.int32), 7)
    x = images
    batch = tf.shape(x)[0]
    h, w = tf.shape(x)[1], tf.shape(x)[2]
    if "color" in policy:
        x = x + (_uniform(keys[0], batch) - 0.5)
        mean = tf.reduce_mean(x, axis=-1, keepdims=True)
        x = (x - mean) * (2.0 * _uniform(keys[1], batch)) + mean
        mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
        x = (x - mean) * (_uniform(keys[2], batch) + 0.5) + mean
    if "translation" in policy:
        for axis, side, key in ((1, h, keys[3]), (2, w, keys[4])):
            limit = tf.cast(tf.cast(side, tf.float32) * translation + 0.5, tf.int32)
            offsets = tf.random.stateless_uniform([batch], key, -limit, limit + 1, tf.int32)
            x = _shift(x, offsets, axis)
    if "cutout" in policy:
        size_h = tf.cast(tf.cast(h, tf.float32) * cutout + 0.5, tf.int32)
        size_w = tf.cast(tf.cast(w, tf.float32) * cutout + 0.5, tf.int32)
        top = tf.random.stateless_uniform([batch], keys[5], 0, h + (1 - size_h % 2), tf.int32)
        left = tf.random.stateless_uniform([batch], keys[6], 0, w + (1 - size_w % 2), tf.int32)
        rows = tf.range(h)[None, :] - (top - size_h // 2)[:, None]
        cols = tf.range(w)[None, :] - (left - size_w // 2)[:, None]
        inside = ((rows >= 0) & (rows < size_h))[:, :, None] & ((cols >= 0) & (cols < size_w))[
            :, None, :]
        x = x * (1.0 - tf.cast(inside, x.dtype))[..., None]
    return x
