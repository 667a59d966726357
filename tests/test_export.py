import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tfinpaint import evaluate, export, models

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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
