"""Reading a user's images and masks, with a clear error for each way they can be wrong.

Mask files: a single-channel (or grey RGB) image where white = hole and black = known, or an
RGBA/LA image whose transparent pixels (alpha < 128) are the hole. In memory a mask is float32
[H, W, 1] with 1 = known and 0 = hole.
"""
import glob
import os

import numpy as np
import tensorflow as tf

from tfinpaint.utils import UserError


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


class MaskError(UserError, ValueError):
    """An image or mask a user gave is unusable; the message says why."""


def decode(data, what):
    """Bytes -> uint8 [H, W, C] array (PNG, JPEG, BMP, GIF)."""
    if not data:
        raise MaskError(f"{what} is empty (0 bytes).")
    try:
        return tf.io.decode_image(data, channels=0, expand_animations=False).numpy()
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError):
        raise MaskError(f"{what} is not a PNG, JPEG, BMP or GIF image.") from None


def _read(path, what):
    if not os.path.isfile(path):
        raise MaskError(f"{what} {path!r} does not exist.")
    with open(path, "rb") as f:
        return decode(f.read(), f"{what} {path!r}")


def read_image(path):
    """uint8 [H, W, 3] RGB (grey is repeated, alpha dropped)."""
    image = _read(path, "image")
    if image.shape[-1] in (1, 2):
        image = np.repeat(image[..., :1], 3, axis=-1)
    return image[..., :3]


def mask_from_pixels(pixels, what="mask", size=None):
    """uint8 [H, W, C] mask pixels -> float32 [H, W, 1] (1 known, 0 hole), validated."""
    channels = pixels.shape[-1]
    if channels in (2, 4):
        hole = pixels[..., -1] < 128  # transparent = hole
    elif channels == 3 and not (np.array_equal(pixels[..., 0], pixels[..., 1])
                                and np.array_equal(pixels[..., 0], pixels[..., 2])):
        raise MaskError(f"{what} is a colour image; give a single-channel mask (white = hole) "
                        "or an RGBA mask (transparent = hole).")
    else:
        hole = pixels[..., 0] >= 128  # white = hole
    if size is not None and tuple(hole.shape) != tuple(size):
        raise MaskError(f"{what} is {hole.shape[1]}x{hole.shape[0]} (WxH) but the image is "
                        f"{size[1]}x{size[0]}; they must be the same size.")
    if not hole.any():
        raise MaskError(f"{what} has no hole pixels (white, or transparent in RGBA): nothing to fill.")
    if hole.all():
        raise MaskError(f"{what} marks every pixel as a hole: there is nothing to fill from.")
    return (~hole).astype(np.float32)[..., None]


def read_mask(path, size=None):
    return mask_from_pixels(_read(path, "mask"), f"mask {path!r}", size)


def hole_mask(height, width, x, y, size):
    """Mask with a size x size hole whose top-left corner is column x, row y."""
    if size < 1 or x < 0 or y < 0 or x + size > width or y + size > height:
        raise MaskError(f"hole x={x},y={y},size={size} does not fit in a {width}x{height} image.")
    mask = np.ones((height, width, 1), np.float32)
    mask[y:y + size, x:x + size] = 0
    if mask.all() or not mask.any():
        raise MaskError("the hole must leave some known pixels.")
    return mask


def load_masks(pattern, image_size):
    """All mask files matching a glob (or in a folder), resized (nearest) to image_size: a bank
    for `HoleMaker(mode="bank")`."""
    paths = sorted(glob.glob(os.path.join(pattern, "*") if os.path.isdir(pattern) else pattern))
    paths = [p for p in paths if os.path.isfile(p)]
    if not paths:
        raise MaskError(f"no mask files match {pattern!r}.")
    masks = []
    for p in paths:
        m = read_mask(p)
        m = tf.image.resize(m, [image_size, image_size], method="nearest").numpy()
        masks.append(m)
    return np.stack(masks)
