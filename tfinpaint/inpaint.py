"""Filling a user's own images with an exported SavedModel (`--mode=inpaint` and the Python API),
and the checks shared with the REST server and client: `parse_hole`, and the pixel budget
(`image_size` reads an image's width and height from its header bytes, `check_pixels` refuses an
image over a budget with one message, before anything is decoded).

This module imports TensorFlow only inside the functions that run a model, so the REST client
can share `parse_hole` without paying for TensorFlow.
"""
import os
import struct

from tfinpaint.utils import UserError, atomic_write_bytes, file_jobs

# Default pixel budgets per request, by the kind of model. A model that runs at the image's own
# size (fully convolutional: conv, ae, gan; also ae_patch and cvae_patch, which decode, composite
# and encode the whole image) costs memory and time in proportion to the area: the 64-wide conv
# took +0.59 GB and 15 s of 2 CPU cores at 1024x1024 here (3.1 GB at 2048x2048). A fixed-size
# model (cvae, dcgan, context_encoder) runs on a resampled copy, so only decoding, resizing and
# encoding grow with the area (+0.08 GB at 2048x2048).
FULL_SIZE_PIXELS = 1024 * 1024
RESAMPLED_PIXELS = 4096 * 4096


class InputError(UserError, ValueError):
    """A hole or an image refused before any model runs; the message says why."""


class TooManyPixels(InputError):
    """An image (or request) over its pixel budget."""


def default_pixel_budget(fixed_size):
    """The budget for a model that takes only `fixed_size` x `fixed_size` images (None: any)."""
    return RESAMPLED_PIXELS if fixed_size else FULL_SIZE_PIXELS


def parse_hole(text):
    """"x,y,size" -> (x, y, size) ints; InputError otherwise (used by the CLI and the client)."""
    try:
        x, y, size = (int(v) for v in str(text).split(","))
    except ValueError:
        raise InputError(f"--hole must be x,y,size (three integers), got {text!r}.") from None
    return x, y, size


def image_size(data):
    """(width, height) of a PNG, JPEG, GIF, BMP or WebP from its header bytes, without decoding
    any pixel; None when the bytes are none of these or the header is cut short."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24 and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    if data.startswith((b"GIF87a", b"GIF89a")) and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    if data.startswith(b"BM") and len(data) >= 26:
        width, height = struct.unpack("<ii", data[18:26])
        return abs(width), abs(height)  # height < 0: a top-down bitmap
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP" and len(data) >= 30:
        return _webp_size(data)
    return None


def _webp_size(data):
    """The size held by a WebP's first chunk (the offsets decode_tensor's in-graph reader uses)."""
    chunk = data[12:16]
    if chunk == b"VP8X":  # flags, 3 reserved bytes, canvas width - 1 and height - 1 in 24 bits
        return (int.from_bytes(data[24:27], "little") + 1,
                int.from_bytes(data[27:30], "little") + 1)
    if chunk == b"VP8L":  # signature 0x2f, then width - 1 and height - 1 in 14 bits each
        (bits,) = struct.unpack("<I", data[21:25])
        return (bits & 0x3FFF) + 1, (bits >> 14 & 0x3FFF) + 1
    if chunk == b"VP8 ":  # frame tag, start code 9d 01 2a, then 14-bit width and height
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(data):
    """The frame size from a JPEG's first start-of-frame marker (segments before it skipped)."""
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2:i + 4])
        if marker in _SOF:
            if i + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return width, height
        if marker == 0xDA or length < 2:  # image data before any frame header: not a JPEG
            return None
        i += 2 + length
    return None


def too_many_pixels(what, width, height, limit, count=1, hint=""):
    """The one message for an image over a pixel budget (CLI, Python API and REST server);
    `hint` says whose budget it is and how to change it."""
    times = f" x {count}" if count != 1 else ""
    return (f"{what} is {width}x{height}{times} = {width * height * count:,} pixels, more than "
            f"the {limit:,} pixels allowed per request{hint}.")


def check_pixels(what, width, height, limit, count=1, hint=""):
    """Raises TooManyPixels unless width x height (x count) fits in `limit`."""
    if width * height * count > limit:
        raise TooManyPixels(too_many_pixels(what, width, height, limit, count, hint))


def check_image_bytes(data, what, limit, hint=""):
    """Checks an encoded image's header against `limit`; returns (width, height), or None when
    the header cannot be read (the decoder then refuses the bytes with its own message)."""
    size = image_size(data)
    if size is not None:
        check_pixels(what, size[0], size[1], limit, hint=hint)
    return size


def load_signature(model_path, name="inpaint_bytes"):
    return load_signatures(model_path, name)[name]


def load_signatures(model_path, name="inpaint_bytes"):
    """The SavedModel's signatures (its latest version when `model_path` holds versions);
    MaskError if it has no `name` signature."""
    import tensorflow as tf

    from tfinpaint import export
    from tfinpaint.data.masks import MaskError

    if not os.path.exists(model_path):
        raise FileNotFoundError(f"model {model_path!r} does not exist.")
    signatures = tf.saved_model.load(export.latest(model_path)).signatures
    if name not in signatures:
        raise MaskError(f"model {model_path!r} has no {name!r} signature (exported by an older "
                        "tfinpaint); export it again with --mode=export.")
    return signatures


def fixed_size(signatures):
    """The side a model takes (from its `serving_default` image input), or None for any size."""
    image = signatures["serving_default"].structured_input_signature[1]["image"]
    side = image.shape[1]
    return int(side) if side is not None else None


def inpaint_paths(model_path, image_path, output, mask=None, hole=None, max_pixels=None):
    """Fills one image (or every image of a folder) through the model's `inpaint_bytes`
    signature, as TF Serving would, and writes PNGs; yields (source, output). Every input is
    checked before anything is written: an image (or mask) over `max_pixels` (default: the
    model's kind, see `default_pixel_budget`) is refused from its header, before decoding."""
    import tensorflow as tf

    from tfinpaint.data.masks import MaskError, hole_mask, read_image, read_mask

    jobs = [(src, dst, m) for src, m, dst in file_jobs(image_path, mask, output, MaskError)]
    box = None
    if not mask:
        try:
            box = parse_hole(hole)
        except InputError as e:
            raise MaskError(str(e)) from None
    signatures = load_signatures(model_path)
    limit = max_pixels or default_pixel_budget(fixed_size(signatures))
    hint = " for this model (max_pixels)"
    prepared = []
    for src, dst, mask_path in jobs:
        image = _bytes(src, "image")
        check_image_bytes(image, f"image {src!r}", limit, hint)
        h, w = read_image(src).shape[:2]  # decodes: only after the header fits the budget
        if mask_path:
            mask_png = _bytes(mask_path, "mask")
            check_image_bytes(mask_png, f"mask {mask_path!r}", limit, hint)
            read_mask(mask_path, (h, w))
            request = (image, mask_png, (0, 0, 0))
        else:
            hole_mask(h, w, *box)
            request = (image, b"", box)
        prepared.append((src, dst, request))
    signature = signatures["inpaint_bytes"]
    for src, dst, (image, mask_png, box) in prepared:
        out = signature(image_bytes=tf.constant([image]), mask_bytes=tf.constant([mask_png]),
                        hole=tf.constant([box], tf.int32))["inpainted_bytes"][0]
        atomic_write_bytes(dst, out.numpy())
        yield src, dst


def _bytes(path, what):
    if not os.path.isfile(path):
        from tfinpaint.data.masks import MaskError

        raise MaskError(f"{what} {path!r} does not exist.")
    with open(path, "rb") as f:
        return f.read()
