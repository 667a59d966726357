"""Fuzzing (hypothesis, fixed seed, bounded examples) of everything that reads user input: image
and mask bytes, mask pixels, hole flags, and the REST request parser (`pytest
--hypothesis-show-statistics tests/test_fuzz.py` counts the cases). Each input either works or
gives the one clear error type (MaskError / an HTTP 4xx JSON error); nothing else escapes."""
import dataclasses
import io
import json
import struct
import zlib

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image
from werkzeug.test import Client as WsgiClient

from serving.server import ModelManager, make_app
from tfinpaint import export, models
from tfinpaint.data.masks import MAX_PIXELS, MaskError, decode, hole_mask, mask_from_pixels
from tfinpaint.inpaint import image_size

FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
def _png(h, w, c=3):
    return tf.io.encode_png(np.full((h, w, c), 90, np.uint8)).numpy()


PNG = _png(12, 10)
JPEG = tf.io.encode_jpeg(np.full((12, 10, 3), 90, np.uint8)).numpy()


def _webp(h, w, lossless=False, alpha=False):
    """Pillow's WebP of a random image. Its first chunk (bytes 12-15) holds the size: "VP8 " when
    lossy, "VP8L" when lossless, "VP8X" (extended, then "ALPH" and "VP8 ") when lossy with alpha."""
    pixels = np.random.default_rng(h * w).integers(0, 256, (h, w, 3 + alpha), np.uint8)
    if alpha:
        pixels[..., 3] = 128  # Pillow leaves out an alpha channel that is all opaque
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "WEBP", lossless=lossless)
    return buffer.getvalue()


WEBP_KINDS = {"VP8 ": {}, "VP8L": dict(lossless=True), "VP8X": dict(alpha=True)}
WEBP = [_webp(12, 10, **options) for options in WEBP_KINDS.values()]


def webp_claiming(kind, width, height, scale=0):
    """A WebP whose first chunk, of `kind`, claims any size (stored as its reader expects),
    followed by junk. `scale`: a VP8 frame's upscaling bits, above its 14-bit width and height."""
    if kind == "VP8X":  # flags (alpha), 3 reserved bytes, width - 1 and height - 1 in 24 bits
        payload = b"\x10\0\0\0" + b"".join((v - 1).to_bytes(3, "little") for v in (width, height))
    elif kind == "VP8L":  # signature, then width - 1 and height - 1 in 14 bits each
        payload = b"\x2f" + struct.pack("<I", (width - 1) | (height - 1) << 14)
    else:  # frame tag (key frame, shown, first partition 16 bytes), start code, sizes
        payload = b"\x10\x02\x00\x9d\x01\x2a" + struct.pack("<HH", width | scale << 14,
                                                               height | scale << 14)
    chunk = kind.encode() + struct.pack("<I", len(payload) + 20) + payload + b"\0" * 20
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def png_claiming(width, height):
    """A valid-looking PNG header (correct CRC) claiming any size, followed by junk."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk
            + struct.pack(">I", zlib.crc32(chunk)) + b"\x00" * 20)


def check_decode(data):
    try:
        image = decode(data, "fuzzed")
    except MaskError as e:
        assert "fuzzed" in str(e)
        return
    assert image.ndim == 3 and image.dtype == np.uint8 and image.size > 0


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes(data):
    check_decode(data)


@FUZZ
@given(st.sampled_from([PNG, JPEG, _png(5, 7, 4), _png(3, 3, 1), *WEBP]), st.data())
def test_truncated_and_corrupted_images(image, data):
    cut = data.draw(st.integers(0, len(image)))
    flip = data.draw(st.lists(st.tuples(st.integers(0, len(image) - 1), st.integers(0, 255)),
                              max_size=3))
    corrupted = bytearray(image[:cut])
    for i, v in flip:
        if i < len(corrupted):
            corrupted[i] = v
    check_decode(bytes(corrupted))


@FUZZ
@given(st.integers(0, 2**31 - 1), st.integers(0, 2**31 - 1))
def test_huge_or_zero_claimed_dimensions(width, height):
    too_big = width * height > 8192 * 8192
    # too big, zero-size or truncated: never decoded, and a huge claim is refused before decoding
    with pytest.raises(MaskError, match="more than" if too_big else "claimed"):
        decode(png_claiming(width, height), "claimed")


@FUZZ
@given(st.sampled_from(sorted(WEBP_KINDS)), st.data())
def test_webp_claimed_dimensions(kind, data):
    """Each chunk kind's size, up to its field's largest: the header readers (Python's and the
    graph's) both read the claim, and one over MAX_PIXELS is refused before decoding."""
    lowest, highest = (0, 2**14 - 1) if kind == "VP8 " else (1, 2**24 if kind == "VP8X" else 2**14)
    width, height = data.draw(st.integers(lowest, highest)), data.draw(st.integers(lowest, highest))
    claim = webp_claiming(kind, width, height, data.draw(st.integers(0, 3)))
    assert image_size(claim) == (width, height)
    try:
        decoded = decode(claim, "claimed")
    except MaskError as e:
        assert ("more than" in str(e)) == (width * height > MAX_PIXELS), e
    else:  # junk that a decoder takes for a (tiny) image: it has the size claimed
        assert width * height <= MAX_PIXELS and decoded.shape[:2] == (height, width)


@FUZZ
@given(st.sampled_from(sorted(WEBP_KINDS)), st.data())
def test_webp_size_is_the_decoded_size(kind, data):
    """Pillow's WebPs of any size (14-bit fields across byte boundaries, up to 16383 wide or
    high): the header's size is the decoded one, and the file is the kind meant."""
    width = data.draw(st.integers(1, 16383))
    height = data.draw(st.integers(1, min(16383, 60_000 // width + 1)))
    image = _webp(height, width, **WEBP_KINDS[kind])
    assert image[12:16] == kind.encode()
    assert image_size(image) == (width, height)
    assert decode(image, "webp").shape == (height, width, 4 if kind == "VP8X" else 3)


@FUZZ
@given(st.sampled_from(WEBP), st.binary(min_size=14, max_size=14))
def test_webp_with_random_size_fields(image, fields):
    """Bytes 16-29 (chunk size, flags or frame tag, size fields) made up: refused with a
    MaskError, or decoded to exactly the size the header reader says."""
    forged = image[:16] + fields + image[30:]
    try:
        decoded = decode(forged, "fuzzed")
    except MaskError as e:
        assert "fuzzed" in str(e)
        return
    assert (decoded.shape[1], decoded.shape[0]) == image_size(forged)


def test_animated_and_sizeless_webps_are_refused():
    """An animated WebP: TF 2.21 writes its RGBA first frame into a buffer sized for RGB (a heap
    overrun without the alpha flag), so it is refused before decoding, with or without alpha. A
    bare bitstream right after "WEBP" (which libwebp decodes) has no size chunk: refused too."""
    for mode, colours in (("RGBA", [(255, 0, 0, 100), (0, 0, 255, 255)]), ("RGB", ["red", "blue"])):
        frames = [Image.new(mode, (10, 12), c) for c in colours]
        buffer = io.BytesIO()
        frames[0].save(buffer, "WEBP", save_all=True, append_images=frames[1:], duration=100)
        animated = buffer.getvalue()
        assert animated[12:16] == b"VP8X" and image_size(animated) == (10, 12)
        with pytest.raises(MaskError, match="is an animated WebP; save one frame"):
            decode(animated, "animated")
    lossless = WEBP[1]
    bare = b"WEBP" + lossless[20:]  # the VP8L bitstream without its chunk header
    with pytest.raises(MaskError, match="is not a PNG, JPEG, BMP, GIF or WebP image"):
        decode(b"RIFF" + struct.pack("<I", len(bare)) + bare, "bare")


@FUZZ
@given(hnp.arrays(np.uint8, st.tuples(st.integers(1, 6), st.integers(1, 6), st.sampled_from([1, 2, 3, 4])),
                  elements=st.sampled_from([0, 1, 127, 128, 254, 255])),
       st.one_of(st.none(), st.tuples(st.integers(1, 6), st.integers(1, 6))))
def test_mask_pixels(pixels, size):
    try:
        mask = mask_from_pixels(pixels, "fuzzed mask", size)
    except MaskError as e:
        assert "fuzzed mask" in str(e)
        return
    assert mask.shape == (*pixels.shape[:2], 1) and 0 < mask.sum() < mask.size


@FUZZ
@given(st.integers(-3, 40), st.integers(-3, 40), st.integers(-3, 40), st.integers(-3, 40),
       st.integers(-3, 40))
def test_hole_flags(h, w, x, y, size):
    try:
        mask = hole_mask(h, w, x, y, size)
    except MaskError as e:
        assert "does not fit" in str(e) or "must be" in str(e) or "hole" in str(e)
        return
    assert mask.shape == (h, w, 1) and (mask == 0).sum() == size * size


# --- the REST parser, through the real WSGI application (no sockets needed) --------------------

@pytest.fixture(scope="module")
def wsgi(tmp_path_factory):
    base = tmp_path_factory.mktemp("fuzz") / "conv"
    export.export(models.build("conv", 12, seed=0, depth=1, filters=4), str(base))
    manager = ModelManager([{"name": "conv", "base_path": str(base), "policy": ("latest", 1)}])
    manager.refresh()
    return WsgiClient(make_app(manager, max_request_bytes=1 << 16))


def post(client, body):
    response = client.post("/v1/models/conv:predict", data=body)
    assert response.status_code in (200, 400, 404, 413), (response.status_code, response.text)
    payload = json.loads(response.text)
    assert ("error" in payload) == (response.status_code != 200)
    return response.status_code


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8), lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["image", "mask", "b64", "image_bytes", "hole", "x"]), inner,
                      max_size=3), max_leaves=12)


@FUZZ
@given(st.binary(max_size=200))
def test_rest_random_bodies(wsgi, body):
    post(wsgi, body)


@FUZZ
@given(st.dictionaries(st.sampled_from(["instances", "inputs", "signature_name"]), json_values,
                       max_size=3))
def test_rest_random_json(wsgi, body):
    post(wsgi, json.dumps(body))  # NaN/Infinity are sent as the JSON literals Python writes


@FUZZ
@given(st.sampled_from(["serving_default", "inpaint_bytes"]),
       st.lists(st.integers(1, 3), min_size=1, max_size=4),
       st.sampled_from([np.float32, np.float64, np.int64, bool, str]), st.booleans())
def test_rest_wrong_shapes_and_dtypes(wsgi, signature, shape, dtype, columnar):
    value = np.ones(shape, dtype).tolist()
    names = ["image", "mask"] if signature == "serving_default" else ["image_bytes", "mask_bytes", "hole"]
    if columnar:
        body = {"inputs": {n: value for n in names}}
    else:
        body = {"instances": [{n: value for n in names}]}
    assert post(wsgi, json.dumps({"signature_name": signature, **body})) in (200, 400)


@FUZZ
@given(st.one_of(st.binary(max_size=64), st.sampled_from([PNG, JPEG, PNG[:30]])),
       st.one_of(st.just(b""), st.binary(max_size=32), st.sampled_from([_png(12, 10, 1), _png(4, 4, 1)])),
       st.lists(st.integers(-5, 20), min_size=3, max_size=3))
def test_rest_fuzzed_image_bytes(wsgi, image, mask, hole):
    import base64

    row = {"image_bytes": {"b64": base64.b64encode(image).decode()},
           "mask_bytes": {"b64": base64.b64encode(mask).decode()}, "hole": hole}
    post(wsgi, json.dumps({"signature_name": "inpaint_bytes", "instances": [row]}))


def _in_range(field):
    """Values of a setting inside its flag's bounds (small sizes: the models stay tiny)."""
    meta = field.metadata
    if meta["choices"]:
        return st.sampled_from(meta["choices"])
    if field.type is bool:
        return st.booleans()
    if field.type is int:
        return st.integers(meta["lower"] or 0, min(meta["upper"] or 9, 9))
    return st.floats(meta["lower"] or 0.0, meta["upper"] or 1.0)


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.sampled_from(sorted(models.METHODS)), st.integers(2, 24), st.data())
def test_method_flags(method, size, data):
    """Any in-range --image_size/--hole_size and any in-range values of a method's settings
    (from their declared bounds and choices) build a model that fills, or give a ConfigError
    that names the problem; so does another method's setting."""
    from tfinpaint.utils import ConfigError

    from tfinpaint.models.registry import settings_table

    hole = data.draw(st.integers(1, size - 1))
    own = [f for f in dataclasses.fields(models.get(method).settings)]
    others = sorted(set(settings_table()) - {f.name for f in own})
    settings_ = data.draw(st.dictionaries(st.sampled_from([f.name for f in own]), st.none(),
                                          max_size=3))
    for f in own:  # any value its flag accepts
        if f.name in settings_:
            settings_[f.name] = data.draw(_in_range(f))
    if data.draw(st.booleans()):  # another method's setting: refused, naming the method's
        settings_[data.draw(st.sampled_from(others))] = 1
    try:
        model = models.build(method, hole, image_size=size, **settings_)
    except ConfigError as e:
        assert str(e)
        return
    images = np.random.default_rng(0).random((2, size, size, 3), dtype=np.float32)
    masks = np.ones((2, size, size, 1), np.float32)
    masks[:, :hole, :hole] = 0
    assert model({"image": images, "mask": masks}).shape == images.shape
