"""Fuzzing (hypothesis, fixed seed, bounded examples) of everything that reads user input: image
and mask bytes, mask pixels, hole flags, and the REST request parser (`pytest
--hypothesis-show-statistics tests/test_fuzz.py` counts the cases). Each input either works or
gives the one clear error type (MaskError / an HTTP 4xx JSON error); nothing else escapes."""
import dataclasses
import json
import struct
import zlib

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from werkzeug.test import Client as WsgiClient

from serving.server import ModelManager, make_app
from tfinpaint import export, models
from tfinpaint.data.masks import MaskError, decode, hole_mask, mask_from_pixels

FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
def _png(h, w, c=3):
    return tf.io.encode_png(np.full((h, w, c), 90, np.uint8)).numpy()


PNG = _png(12, 10)
JPEG = tf.io.encode_jpeg(np.full((12, 10, 3), 90, np.uint8)).numpy()


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
@given(st.sampled_from([PNG, JPEG, _png(5, 7, 4), _png(3, 3, 1)]), st.data())
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
