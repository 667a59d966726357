"""DiffAugment: seeded, differentiable, and each op does what the paper's policy says."""
import numpy as np
import pytest
import tensorflow as tf

from tfinpaint.augment import diff_augment


def images(batch=8, size=32, seed=0):
    rng = np.random.default_rng(seed)
    return tf.constant(rng.uniform(-1, 1, (batch, size, size, 3)).astype(np.float32))


def test_seeded_and_differentiable():
    x = images()
    a, b = diff_augment(x, (1, 2)), diff_augment(x, (1, 2))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, diff_augment(x, (1, 3)))
    assert a.shape == x.shape
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(diff_augment(x, (1, 2)) ** 2)
    grad = tape.gradient(y, x).numpy()
    assert np.isfinite(grad).all() and np.abs(grad).sum() > 0


@pytest.mark.parametrize("size", [32, 64])
def test_translation_shifts_by_at_most_an_eighth_and_fills_zeros(size):
    ones = tf.ones([16, size, size, 3])
    out = diff_augment(ones, (5, 7), policy=("translation",)).numpy()
    limit = size // 8
    empty_rows = (out == 0).all(axis=(2, 3)).sum(axis=1)
    empty_cols = (out == 0).all(axis=(1, 3)).sum(axis=1)
    assert (empty_rows <= limit).all() and (empty_cols <= limit).all()
    assert empty_rows.max() > 0 and empty_cols.max() > 0  # some image did move
    # The content moves with the border: a shifted copy, not a cropped one.
    x = images(16, size).numpy()
    moved = diff_augment(tf.constant(x), (5, 7), policy=("translation",)).numpy()
    for img, src, dy, dx in zip(moved, x, empty_rows, empty_cols):
        if dy == 0 and dx == 0:
            np.testing.assert_array_equal(img, src)
        else:
            assert not np.array_equal(img, src)


def test_cutout_zeros_one_square_of_half_the_side():
    ones = tf.ones([32, 32, 32, 3])
    out = diff_augment(ones, (0, 9), policy=("cutout",)).numpy()
    zeros = (out == 0).all(axis=-1).sum(axis=(1, 2))
    assert (zeros > 0).all() and (zeros <= 16 * 16).all()
    assert (zeros == 256).mean() > 0.2  # mostly whole squares inside the image
    assert np.isin(out, [0.0, 1.0]).all()


def test_color_changes_brightness_saturation_and_contrast_per_image():
    x = images()
    out = diff_augment(x, (4, 4), policy=("color",)).numpy()
    shift = out.mean(axis=(1, 2, 3)) - x.numpy().mean(axis=(1, 2, 3))
    assert np.abs(shift).max() <= 0.5 + 1e-5 and np.std(shift) > 0.05
    np.testing.assert_array_equal(np.isfinite(out), True)
