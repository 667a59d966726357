"""Reading a user's images and masks, with a clear error for each way they can be wrong.

Photos are turned upright as a viewer shows them: a phone's JPEG stores its pixels as the sensor
read them, with an EXIF orientation tag (1-8) saying how to turn them, and a mask drawn over the
photo as shown has the turned size. `read_image`/`read_mask` (and `serving.client`) apply the tag;
the exported `inpaint_bytes` signature, like TF Serving, takes pixels as stored.

Mask files: a single-channel (or grey RGB) image where white = hole and black = known, or an
RGBA/LA image whose transparent pixels are the hole. One threshold binarises both, so soft brush
edges and JPEG-ish greys have one documented meaning: a grey value >= 128 is hole, an alpha < 128
is hole (`HOLE_THRESHOLD`). A mask with no hole, or with more than 90% of its pixels hole
(`MAX_HOLE_FRACTION`: such a mask is almost always inverted, black = hole) is refused with a
message saying so. In memory a mask is float32 [H, W, 1] with 1 = known and 0 = hole.
"""
import glob
import os
import re

import numpy as np
import tensorflow as tf

from tfinpaint.utils import IMAGE_SUFFIXES, UserError  # noqa: F401 (IMAGE_SUFFIXES: re-exported)
from tfinpaint.utils import upright


class MaskError(UserError, ValueError):
    """An image or mask a user gave is unusable; the message says why."""


HOLE_THRESHOLD = 128  # grey >= 128 is hole; for LA/RGBA, alpha < 128 is hole
MAX_HOLE_FRACTION = 0.9  # a mask marking more of the image as hole looks inverted: refused
MAX_PIXELS = 8192 * 8192  # a few bytes of PNG header can claim any size: refuse to decode more
_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF8", b"BM")
# A WebP is "RIFF", a size and "WEBP", then a first chunk (bytes 12-15) that holds the image's size:
# "VP8 " (lossy), "VP8L" (lossless) or "VP8X" (extended). libwebp also decodes a bare bitstream
# right after "WEBP", whose size would go unchecked: that is refused.
_WEBP = (b"WEBPVP8 ", b"WEBPVP8L", b"WEBPVP8X")


# Graph functions: the exported `inpaint_bytes` signature and the command line both use these, so
# a file and a REST request are checked by the same code and fail with the same message.

def _require(condition, *parts):
    """An assertion whose InvalidArgumentError reads `assertion failed: [<parts joined>]`."""
    text = tf.strings.join([p if isinstance(p, str) else tf.strings.as_string(p) for p in parts])
    return tf.debugging.Assert(condition, [text])


def _head(data):
    """The first 32 bytes as int64s (zeros past the end)."""
    return tf.cast(tf.io.decode_raw(tf.strings.substr(data, 0, 32) + b"\0" * 32, tf.uint8)[:32],
                   tf.int64)


def _webp_kind(data):
    """Bytes 8-15: "WEBP" and the kind of its first chunk in a WebP (shorter past the end)."""
    return tf.strings.substr(data, tf.minimum(8, tf.strings.length(data)), 8)


def _dimensions(data):
    """(width, height) from a PNG, GIF, BMP or WebP header, or a JPEG's frame; -1s if unknown."""
    b = _head(data)
    be32 = lambda i: b[i] * 2**24 + b[i + 1] * 2**16 + b[i + 2] * 2**8 + b[i + 3]  # noqa: E731
    le16 = lambda i: b[i] + b[i + 1] * 2**8  # noqa: E731
    le24 = lambda i: le16(i) + b[i + 2] * 2**16  # noqa: E731
    le32 = lambda i: le16(i) + le16(i + 2) * 2**16  # noqa: E731
    kind = tf.strings.substr(data, 0, 2)
    jpeg = tf.equal(kind, _MAGIC[1][:2])
    webp = _webp_kind(data)
    return tf.case([
        (jpeg, lambda: tf.reverse(tf.cast(tf.image.extract_jpeg_shape(data)[:2], tf.int64), [0])),
        (tf.equal(kind, _MAGIC[0][:2]), lambda: tf.stack([be32(16), be32(20)])),
        (tf.equal(kind, b"GI"), lambda: tf.stack([le16(6), le16(8)])),
        (tf.equal(kind, b"BM"), lambda: tf.stack([le32(18), tf.abs(le32(22) - tf.cast(
            le32(22) >= 2**31, tf.int64) * 2**32)])),
        # VP8X: flags, 3 reserved bytes, then the canvas's width - 1 and height - 1 (24 bits each)
        (tf.equal(webp, _WEBP[2]), lambda: tf.stack([le24(24) + 1, le24(27) + 1])),
        # VP8L: signature 0x2f, then width - 1 and height - 1 in 14 bits each, least bit first
        (tf.equal(webp, _WEBP[1]), lambda: tf.stack([le32(21) % 2**14 + 1,
                                                     le32(21) // 2**14 % 2**14 + 1])),
        # VP8: a 3-byte frame tag, the start code 9d 01 2a, width and height in 14 bits of 16
        (tf.equal(webp, _WEBP[0]), lambda: tf.stack([le16(26) % 2**14, le16(28) % 2**14]))],
        default=lambda: tf.constant([-1, -1], tf.int64))


def decode_tensor(data, what, channels=0):
    """Image bytes -> uint8 [H, W, C] (C = `channels`, or the file's own with 0). Fails with a
    message naming `what` for bytes that are no PNG/JPEG/BMP/GIF/WebP, for oversized images and
    for animated WebPs: TF 2.21 decodes their first frame as RGBA into a buffer sized for RGB
    when the alpha flag is unset, overrunning it (the process aborts), so none is decoded."""
    size = tf.strings.length(data)
    riff, webp = tf.equal(tf.strings.substr(data, 0, 4), b"RIFF"), _webp_kind(data)
    known = tf.reduce_any([tf.equal(tf.strings.substr(data, 0, len(m)), m) for m in _MAGIC]
                          + [riff & tf.equal(webp, w) for w in _WEBP])
    with tf.control_dependencies([_require(
            known, what, " is not a PNG, JPEG, BMP, GIF or WebP image (", size, " bytes)")]):
        wh = _dimensions(data)
        animated = riff & tf.equal(webp, _WEBP[2]) & (_head(data)[20] // 2 % 2 == 1)  # flag A
    with tf.control_dependencies([
            _require(wh[0] * wh[1] <= MAX_PIXELS, what, " is ", wh[0], "x", wh[1],
                     " pixels, more than the ", MAX_PIXELS, " this program decodes"),
            _require(tf.logical_not(animated), what, " is an animated WebP; save one frame of "
                     "it as a still image (PNG, JPEG or WebP).")]):
        image = tf.io.decode_image(data, channels=channels, expand_animations=False)
    with tf.control_dependencies([_require(tf.size(image) > 0, what, " has no pixels")]):
        return tf.identity(image)


def rgb_tensor(pixels):
    """uint8 [H, W, C] -> [H, W, 3]: grey repeated, alpha dropped."""
    pixels = tf.convert_to_tensor(pixels)
    c = tf.shape(pixels)[-1]
    return tf.cond(c < 3, lambda: tf.repeat(pixels[..., :1], 3, axis=-1), lambda: pixels[..., :3])


def mask_tensor(pixels, what, height=None, width=None):
    """uint8 mask pixels [H, W, C] -> float32 [H, W, 1] (1 known, 0 hole): grey >= 128 (white)
    = hole, or for LA/RGBA alpha < 128 (transparent) = hole. Fails on colour masks, a size other
    than `height` x `width` (when given), no hole, nothing but hole, and more than
    MAX_HOLE_FRACTION hole (an inverted mask)."""
    c = tf.shape(pixels)[-1]
    grey = tf.reduce_all(tf.logical_and(tf.equal(pixels[..., 0], pixels[..., c // 2]),
                                        tf.equal(pixels[..., 0], pixels[..., c - 1])))
    checks = [_require(tf.logical_or(tf.not_equal(c, 3), grey), what,
                       " is a colour image; give a single-channel mask (white = hole) or an RGBA "
                       "mask (transparent = hole).")]
    if height is not None:
        h, w = tf.shape(pixels)[0], tf.shape(pixels)[1]
        checks.append(_require(tf.logical_and(tf.equal(h, height), tf.equal(w, width)),
                               what, " is ", w, "x", h, " (WxH) but the image is ", width, "x",
                               height, "; they must be the same size."))
    with tf.control_dependencies(checks):
        hole = tf.where(tf.logical_or(tf.equal(c, 2), tf.equal(c, 4)),
                        pixels[..., -1] < HOLE_THRESHOLD, pixels[..., 0] >= HOLE_THRESHOLD)
    fraction = tf.reduce_mean(tf.cast(hole, tf.float32))
    percent = tf.strings.as_string(100.0 * fraction, precision=1)
    with tf.control_dependencies([
            _require(tf.reduce_any(hole), what, " has no hole pixels (white, or transparent in "
                     "RGBA): nothing to fill."),
            _require(tf.logical_not(tf.reduce_all(hole)), what, " marks every pixel as a hole: "
                     "there is nothing to fill from. Is it inverted? White (or transparent) = "
                     "hole, black (or opaque) = known."),
            _require(tf.logical_or(tf.reduce_all(hole), fraction <= MAX_HOLE_FRACTION), what,
                     " marks ", percent, "% of the pixels as hole, more than the ",
                     f"{MAX_HOLE_FRACTION:.0%}", " allowed: it looks inverted. White (or "
                     "transparent) = hole, black (or opaque) = known.")]):
        return tf.cast(tf.logical_not(hole), tf.float32)[..., None]


def hole_tensor(height, width, x, y, size):
    """float32 [H, W, 1] mask with a size x size hole whose top-left corner is column x, row y."""
    fits = tf.reduce_all([size >= 1, x >= 0, y >= 0, x + size <= width, y + size <= height,
                          size * size < height * width])
    with tf.control_dependencies([_require(
            fits, "hole x=", x, ",y=", y, ",size=", size, " does not fit in a ", width, "x",
            height, " image (it must leave some known pixels).")]):
        rows = tf.logical_and(tf.range(height) >= y, tf.range(height) < y + size)
        cols = tf.logical_and(tf.range(width) >= x, tf.range(width) < x + size)
    return tf.cast(tf.logical_not(rows[:, None, None] & cols[None, :, None]), tf.float32)


def error_text(error):
    """The useful line of a TensorFlow error: an assertion's own text, or the op's message
    prefixed with the input it came from when the op ran under an `<input>_bytes` name scope."""
    message = getattr(error, "message", str(error))
    found = re.search(r"assertion failed: \[(.*?)\]\s*(\n|\[\[|$)", message, re.S)
    if found:
        return found.group(1)
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()
             and not ln.startswith(("Graph execution error", "Detected at", "  ", "\t"))]
    text = re.sub(r"\s*\[\[\{\{.*|\s*\[Op:.*", "", lines[-1] if lines else message) or message
    source = re.search(r"\{\{node (?:.*/)?(\w+_bytes)/", message)
    return f"{source.group(1)}: {text}" if source else text


def _eager(fn, *args):
    """Runs a graph function above on numpy/Python values; its failures become MaskErrors."""
    try:
        return fn(*args).numpy()
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as e:
        text = error_text(e)
        what = next((a for a in args if isinstance(a, str)), "")
        raise MaskError(text if text.startswith(what) else f"{what}: {text}") from None


_decode = tf.function(decode_tensor, input_signature=[tf.TensorSpec([], tf.string)] * 2,
                      reduce_retracing=True)
_mask = tf.function(lambda p, what, h, w: mask_tensor(p, what, h, w), input_signature=[
    tf.TensorSpec([None, None, None], tf.uint8), tf.TensorSpec([], tf.string),
    tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int32)])
_mask_any_size = tf.function(lambda p, what: mask_tensor(p, what), input_signature=[
    tf.TensorSpec([None, None, None], tf.uint8), tf.TensorSpec([], tf.string)])
_hole = tf.function(hole_tensor, input_signature=[tf.TensorSpec([], tf.int32)] * 5)


def decode(data, what):
    """Bytes -> uint8 [H, W, C] array (PNG, JPEG, BMP, GIF, WebP)."""
    if not data:
        raise MaskError(f"{what} is empty (0 bytes).")
    return _eager(_decode, data, what)


def _read(path, what):
    if not os.path.isfile(path):
        raise MaskError(f"{what} {path!r} does not exist.")
    with open(path, "rb") as f:
        data = f.read()
    return upright(decode(data, f"{what} {path!r}"), data)


def read_image(path):
    """uint8 [H, W, 3] RGB (grey is repeated, alpha dropped), upright (EXIF orientation)."""
    return _eager(rgb_tensor, _read(path, "image"))


def mask_from_pixels(pixels, what="mask", size=None):
    """uint8 [H, W, C] mask pixels -> float32 [H, W, 1] (1 known, 0 hole), validated."""
    if size is None:
        return _eager(_mask_any_size, pixels, what)
    return _eager(_mask, pixels, what, *size)


def read_mask(path, size=None):
    return mask_from_pixels(_read(path, "mask"), f"mask {path!r}", size)


def hole_mask(height, width, x, y, size):
    """Mask with a size x size hole whose top-left corner is column x, row y."""
    return _eager(_hole, height, width, x, y, size)


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
