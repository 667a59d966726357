import base64
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import requests
import tensorflow as tf

from helpers import png
from serving.client import bytes_row
from tfinpaint import evaluate, export, models


def test_reload_gives_the_keras_models_output(exported):
    model, path = exported
    signature = tf.saved_model.load(path).signatures["serving_default"]
    assert set(signature.structured_input_signature[1]) == {"image", "mask"}
    assert set(signature.structured_outputs) == {"inpainted"}
    for size in [(32, 32), (20, 44)]:  # any size and batch for a fully convolutional model
        images = np.random.default_rng(0).random((5, *size, 3), dtype=np.float32)
        masks = evaluate.protocol_masks(5, *size, 8)
        served = signature(image=tf.constant(images), mask=tf.constant(masks))["inpainted"].numpy()
        np.testing.assert_allclose(served, model({"image": images, "mask": masks}).numpy(),
                                   atol=1e-6)


def test_patch_model_round_trip(tmp_path):
    model = models.build("ae_patch", 12, seed=0)
    path = export.export(model, str(tmp_path / "ae_patch"))
    signature = tf.saved_model.load(path).signatures["serving_default"]
    images = np.random.default_rng(1).random((4, 32, 32, 3), dtype=np.float32)
    masks = evaluate.protocol_masks(4, 32, 32, 12)
    np.testing.assert_allclose(
        signature(image=tf.constant(images), mask=tf.constant(masks))["inpainted"].numpy(),
        model({"image": images, "mask": masks}).numpy(), atol=1e-6)


def test_mask_of_another_size_is_rejected(exported):
    signature = tf.saved_model.load(exported[1]).signatures["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="mask must match the image"):
        signature(image=tf.zeros([1, 32, 32, 3]), mask=tf.ones([1, 16, 16, 1]))


def test_versions_count_up_and_shared_checker_passes(tmp_path, data_dir):
    model = models.build("conv", 12, seed=0, depth=1, filters=4)
    base = str(tmp_path / "conv")
    assert export.export(model, base).endswith(os.sep + "1")
    assert export.export(model, base).endswith(os.sep + "2")
    assert export.versions(base) == [1, 2] and export.latest(base).endswith("2")
    checker = os.path.join(os.path.dirname(data_dir), "check_export.py")
    out = subprocess.run([sys.executable, checker, os.path.join(base, "2"),
                          os.path.join(data_dir, "cifar10_cars.npz"), "x_test", "12", "200"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "known_pixels_changed=0" in out.stdout and "hole_psnr=" in out.stdout


def test_saved_model_cli_lists_the_signature(exported):
    out = subprocess.run(["saved_model_cli", "show", "--dir", exported[1], "--all"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "serving_default" in out.stdout and "inpainted" in out.stdout
    assert "image" in out.stdout and "mask" in out.stdout


@pytest.mark.parametrize("where", ["tensorflow.saved_model.save", "os.rename"])
def test_crash_during_export_leaves_no_partial_version(tmp_path, monkeypatch, where):
    model = models.build("conv", 12, seed=0, depth=1, filters=4)
    base = str(tmp_path / "conv")
    export.export(model, base)

    def crash(obj, path, *args, **kwargs):
        if where != "os.rename":
            open(os.path.join(path, "saved_model.pb"), "w").write("half")
        raise OSError("disk full")

    monkeypatch.setattr(where, crash)
    with pytest.raises(OSError, match="disk full"):
        export.export(model, base)
    monkeypatch.undo()
    assert sorted(os.listdir(base)) == ["1"]  # no version 2, no temporary folder left
    tf.saved_model.load(export.latest(base))


# --- the PNG signatures over TF Serving's REST API (local server, real exports) ---------------

def _b64(data):
    return {"b64": base64.b64encode(data).decode("ascii")}


@pytest.fixture(scope="module")
def rest(tmp_path_factory, export_conv_and_cvae):
    from serving.server import Server

    base = tmp_path_factory.mktemp("rest")
    export_conv_and_cvae(base)
    configs = [{"name": n, "base_path": str(base / n), "policy": ("latest", 1)}
               for n in ("conv", "cvae")]
    with Server(configs, port=0, poll_seconds=0) as server:
        yield server.url


def _predict(url, model, body):
    answer = requests.post(f"{url}/v1/models/{model}:predict", json=body, timeout=120)
    return answer.status_code, answer.json()


PHOTO = np.random.default_rng(7).integers(0, 256, (40, 48, 3), np.uint8)
HOLE = np.zeros((40, 48), bool)
HOLE[6:18, 10:22] = True
GREY_MASK = np.where(HOLE, 255, 0).astype(np.uint8)[..., None]


def test_signatures_have_exactly_their_inputs(rest):
    meta = requests.get(f"{rest}/v1/models/conv/metadata", timeout=60).json()
    signatures = meta["metadata"]["signature_def"]["signature_def"]
    inputs = {k: sorted(v["inputs"]) for k, v in signatures.items()}
    assert inputs["inpaint_mask_bytes"] == ["image_bytes", "mask_bytes"]
    assert inputs["inpaint_hole_bytes"] == ["hole", "image_bytes"]
    assert inputs["inpaint_bytes"] == ["hole", "image_bytes", "mask_bytes"]  # kept for old clients
    for name in ("inpaint_mask_bytes", "inpaint_hole_bytes", "inpaint_bytes"):
        assert list(signatures[name]["outputs"]) == ["inpainted_bytes"]


@pytest.mark.parametrize("model", ["conv", "cvae"])
def test_mask_request_without_dummy_fields(rest, model):
    status, body = _predict(rest, model, {"signature_name": "inpaint_mask_bytes", "instances": [
        {"image_bytes": _b64(png(PHOTO)), "mask_bytes": _b64(png(GREY_MASK))}]})
    assert status == 200, body
    filled = tf.io.decode_png(base64.b64decode(body["predictions"][0]["b64"])).numpy()
    assert filled.shape == PHOTO.shape
    np.testing.assert_array_equal(filled[~HOLE], PHOTO[~HOLE])
    assert (filled[HOLE] != PHOTO[HOLE]).any(axis=-1).mean() > 0.5
    # the old signature, with its dummy hole, gives the same PNG
    status, old = _predict(rest, model, {"signature_name": "inpaint_bytes", "instances": [
        bytes_row(png(PHOTO), png(GREY_MASK))]})
    assert status == 200 and old["predictions"] == body["predictions"]


def test_hole_request_without_dummy_fields(rest):
    status, body = _predict(rest, "conv", {"signature_name": "inpaint_hole_bytes", "inputs": {
        "image_bytes": [_b64(png(PHOTO))] * 2, "hole": [[10, 6, 12], [0, 0, 4]]}})  # columnar
    assert status == 200, body
    first, second = (tf.io.decode_png(base64.b64decode(p["b64"])).numpy() for p in body["outputs"])
    np.testing.assert_array_equal(first[~HOLE], PHOTO[~HOLE])
    assert (first[HOLE] != PHOTO[HOLE]).any()
    corner = np.zeros((40, 48), bool)
    corner[:4, :4] = True
    np.testing.assert_array_equal(second[~corner], PHOTO[~corner])
    status, old = _predict(rest, "conv", {"signature_name": "inpaint_bytes", "instances": [
        bytes_row(png(PHOTO), hole=(10, 6, 12))]})
    assert status == 200 and old["predictions"][0] == body["outputs"][0]


@pytest.mark.parametrize("signature,row,match", [
    ("inpaint_mask_bytes", {"image_bytes": "", "mask_bytes": "", "hole": [0, 0, 0]}, "do not match"),
    ("inpaint_hole_bytes", {"image_bytes": "", "mask_bytes": ""}, "do not match"),
    ("inpaint_mask_bytes", {"image_bytes": "P", "mask_bytes": "M"}, "image_bytes is not a PNG"),
])
def test_wrong_inputs_are_refused(rest, signature, row, match):
    status, body = _predict(rest, "conv", {"signature_name": signature, "instances": [row]})
    assert status == 400 and re.search(match, body["error"]), body


def test_one_threshold_and_inverted_masks(rest):
    """grey >= 128 is hole; alpha < 128 is hole; more than 90% hole is refused as inverted."""
    def fill(mask):
        status, body = _predict(rest, "conv", {"signature_name": "inpaint_mask_bytes", "instances": [
            {"image_bytes": _b64(png(PHOTO)), "mask_bytes": _b64(png(mask))}]})
        return status, body

    grey = np.zeros((40, 48, 1), np.uint8)
    grey[:, :8] = 127  # just below the threshold: known
    grey[:, 8:16] = 128  # at the threshold: hole
    status, body = fill(grey)
    filled = tf.io.decode_png(base64.b64decode(body["predictions"][0]["b64"])).numpy()
    np.testing.assert_array_equal(filled[:, :8], PHOTO[:, :8])
    np.testing.assert_array_equal(filled[:, 16:], PHOTO[:, 16:])
    assert (filled[:, 8:16] != PHOTO[:, 8:16]).any()

    rgba = np.full((40, 48, 4), 255, np.uint8)
    rgba[:, :8, 3] = 128  # half transparent, at the threshold: known
    rgba[:, 8:16, 3] = 127  # below it: hole
    status, body = fill(rgba)
    filled = tf.io.decode_png(base64.b64decode(body["predictions"][0]["b64"])).numpy()
    np.testing.assert_array_equal(filled[:, :8], PHOTO[:, :8])
    assert (filled[:, 8:16] != PHOTO[:, 8:16]).any()

    inverted = np.where(HOLE, 0, 255).astype(np.uint8)[..., None]  # black = hole: 92.5% white
    status, body = fill(inverted)
    assert status == 400 and "mask_bytes marks 92.5% of the pixels as hole" in body["error"]
    assert "looks inverted" in body["error"]
    limit = np.zeros((40, 48, 1), np.uint8)
    limit.reshape(-1)[:1728] = 255  # exactly 90% hole: still accepted
    assert fill(limit)[0] == 200
    limit.reshape(-1)[1728] = 255
    assert fill(limit)[0] == 400
