"""Filling a user's own images with an exported SavedModel (`--mode=inpaint`)."""
import os

import numpy as np
import tensorflow as tf

from tfinpaint import export
from tfinpaint.data.masks import IMAGE_SUFFIXES, MaskError, hole_mask, read_image, read_mask
from tfinpaint.utils import atomic_write_bytes


def load_signature(model_path):
    if not os.path.exists(model_path):
        raise FileNotFoundError(f"model {model_path!r} does not exist.")
    return tf.saved_model.load(export.latest(model_path)).signatures["serving_default"]


def parse_hole(text):
    try:
        x, y, size = (int(v) for v in text.split(","))
    except ValueError:
        raise MaskError(f"--hole must be x,y,size (three integers), got {text!r}.") from None
    return x, y, size


def inpaint_array(signature, image, mask):
    """uint8 [H, W, 3] image + float [H, W, 1] mask -> uint8 filled image."""
    x = image.astype(np.float32)[None] / 255.0
    out = signature(image=tf.constant(x), mask=tf.constant(mask[None]))["inpainted"][0].numpy()
    out = np.clip(out * 255 + 0.5, 0, 255).astype(np.uint8)
    return np.where(mask > 0.5, image, out)  # known pixels exactly as given, whatever the model


def inpaint_paths(model_path, image_path, output, mask=None, hole=None):
    """Fills one image (or every image of a folder) and writes PNGs; yields (source, output)."""
    if os.path.isdir(image_path):
        names = sorted(n for n in os.listdir(image_path) if n.lower().endswith(IMAGE_SUFFIXES))
        if not names:
            raise MaskError(f"folder {image_path!r} has no PNG/JPEG images.")
        if os.path.exists(output) and not os.path.isdir(output):
            raise MaskError(f"--image is a folder, so --output must be a folder; {output!r} is a file.")
        jobs = [(os.path.join(image_path, n), os.path.join(output, os.path.splitext(n)[0] + ".png"),
                 os.path.join(mask, n) if mask and os.path.isdir(mask) else mask) for n in names]
    else:
        if mask and os.path.isdir(mask):
            raise MaskError("--image is one file, so --mask must be one file too.")
        jobs = [(image_path, output, mask)]
    # Validate everything before writing anything, so a bad file leaves no partial output.
    prepared = []
    for src, dst, mask_path in jobs:
        image = read_image(src)
        h, w = image.shape[:2]
        m = read_mask(mask_path, (h, w)) if mask_path else hole_mask(h, w, *parse_hole(hole))
        prepared.append((src, dst, image, m))
    signature = load_signature(model_path)
    size = signature.structured_input_signature[1]["image"].shape[1:3]
    for src, _, image, _ in prepared:
        if None not in size and tuple(image.shape[:2]) != tuple(size):
            raise MaskError(f"{src} is {image.shape[1]}x{image.shape[0]} but this model only takes "
                            f"{size[1]}x{size[0]} images; resize or crop it first.")
    for src, dst, image, m in prepared:
        filled = inpaint_array(signature, image, m)
        atomic_write_bytes(dst, tf.io.encode_png(filled).numpy())
        yield src, dst
