"""Sample grids: rows masked (hole white), original, then one row per fill, as in the thesis'
figures (written as samples.png, to TensorBoard and every --sample_every steps)."""
import numpy as np
import tensorflow as tf

from tfinpaint.utils import atomic_write_bytes


def sample_grid(images, masks, *outputs, scale=None):
    """uint8 grid, rows as in the thesis figures: masked (hole white), original, then one row
    per fill (several for methods that draw samples)."""
    images, masks = np.asarray(images, np.float32), np.asarray(masks, np.float32)
    masked = images * masks + (1 - masks)
    rows = [masked, images, *(np.asarray(r, np.float32) for r in outputs)]
    return tile(np.concatenate(rows), columns=len(images),
                scale=scale or max(1, 128 // images.shape[1]))


def tile(images, columns=8, scale=2):
    """uint8 grid of `images` ([N, H, W, 3] in [0, 1]), `columns` to a row, 2 px white gaps."""
    images = np.asarray(images, np.float32)
    rows = -(-len(images) // columns)
    pad = np.ones((rows * columns - len(images), *images.shape[1:]), np.float32)
    images = np.pad(np.concatenate([images, pad]), ((0, 0), (2, 2), (2, 2), (0, 0)),
                    constant_values=1.0)
    grid = np.concatenate([np.concatenate(list(images[r * columns:(r + 1) * columns]), axis=1)
                           for r in range(rows)], axis=0)
    grid = grid.repeat(scale, 0).repeat(scale, 1)
    return np.clip(grid * 255 + 0.5, 0, 255).astype(np.uint8)


def write_png(path, grid):
    atomic_write_bytes(path, tf.io.encode_png(grid).numpy())


def write_samples(path, images, masks, *outputs):
    write_png(path, sample_grid(images, masks, *outputs))
