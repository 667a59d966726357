"""TFLite export: the .tflite files, run by the LiteRT / TFLite interpreter, against the SavedModel
on the same real images and holes."""
import os

import numpy as np
import pytest
import tensorflow as tf

from tfinpaint import evaluate, export, metrics, models

TINY = {  # small versions of each method (conversion is the same at any width)
    "conv": dict(depth=2, filters=8), "ae": {}, "ae_patch": {}, "cvae": dict(latent_dim=8),
    "cvae_patch": dict(latent_dim=8), "gan": dict(filters=8), "unet": dict(filters=8),
    "context_encoder": dict(image_size=32, filters=16, bottleneck=32, d_filters=16),
}


def _run(path, images, masks):
    """Every image through the interpreter's `serving_default` signature, one at a time."""
    runner = export.tflite_interpreter(path).get_signature_runner("serving_default")
    return np.concatenate([runner(image=images[i:i + 1], mask=masks[i:i + 1])["inpainted"]
                           for i in range(len(images))])


@pytest.mark.parametrize("method", sorted(TINY))
def test_tflite_matches_the_saved_model(method, tmp_path, test_cars):
    model = models.build(method, 12, seed=0, **{"image_size": 32, **TINY[method]})
    files = export.export_tflite(model, str(tmp_path / "tflite"), 32)
    assert sorted(files) == ["dynamic_range", "float32"]
    assert os.path.basename(files["float32"]) == f"{method}_32x32_float32.tflite"
    assert os.path.getsize(files["dynamic_range"]) < os.path.getsize(files["float32"])

    interpreter = export.tflite_interpreter(files["float32"])
    signature = interpreter.get_signature_list()["serving_default"]
    assert sorted(signature["inputs"]) == ["image", "mask"] and signature["outputs"] == ["inpainted"]

    images = test_cars[:16].astype(np.float32) / 255.0
    masks = evaluate.protocol_masks(16, 32, 32, 12)
    saved = tf.saved_model.load(export.export(model, str(tmp_path / "saved"), model.fixed_size))
    reference = saved.signatures["serving_default"](
        image=tf.constant(images), mask=tf.constant(masks))["inpainted"].numpy()
    known = np.broadcast_to(masks > 0.5, images.shape)

    lite = _run(files["float32"], images, masks)
    assert lite.shape == reference.shape and lite.dtype == np.float32
    np.testing.assert_array_equal(lite[known], images[known])  # composited: known pixels exact
    assert np.abs(lite - reference).max() <= 1 / 255, np.abs(lite - reference).max()

    quantised = _run(files["dynamic_range"], images, masks)
    np.testing.assert_array_equal(quantised[known], images[known])
    psnr = {name: float(np.mean(metrics.hole_psnr(images, out, masks)))
            for name, out in [("saved_model", reference), ("float32", lite),
                              ("dynamic_range", quantised)]}
    print(f"\n{method} hole PSNR (untrained, 16 test cars): {psnr}; dynamic range - SavedModel "
          f"= {psnr['dynamic_range'] - psnr['saved_model']:+.3f} dB")
    assert np.isfinite(quantised).all() and abs(psnr["float32"] - psnr["saved_model"]) < 0.01


def test_fixed_size_and_batch(tmp_path):
    model = models.build("ae_patch", 12, seed=0)
    files = export.export_tflite(model, str(tmp_path), 48, variants=["float32"], name="patch",
                                 batch_size=2)
    assert list(files) == ["float32"] and files["float32"].endswith("patch_48x48_float32.tflite")
    details = export.tflite_interpreter(files["float32"]).get_signature_runner().get_input_details()
    assert list(details["image"]["shape"]) == [2, 48, 48, 3]
    assert list(details["mask"]["shape"]) == [2, 48, 48, 1]
    with pytest.raises(ValueError, match="fully convolutional: give image_size"):
        export.export_tflite(model, str(tmp_path), None)
    with pytest.raises(ValueError, match="variants"):
        export.export_tflite(model, str(tmp_path), 32, variants=["int8"])
    cvae = models.build("cvae", 12, image_size=32, latent_dim=8, seed=0)
    with pytest.raises(ValueError, match="takes only 32x32 images"):
        export.export_tflite(cvae, str(tmp_path), 64)
    assert export.export_tflite(cvae, str(tmp_path), variants=["float32"])["float32"].endswith(
        "cvae_32x32_float32.tflite")  # fixed-size models default to their own size
    assert not [f for f in os.listdir(tmp_path) if ".tmp" in f]


def test_every_method_converts_or_says_why():
    """TINY above holds every method that converts; the others declare why at registration."""
    assert set(TINY) | set(export.TFLITE_UNSUPPORTED) == set(models.METHODS)
    assert not set(TINY) & set(export.TFLITE_UNSUPPORTED)


def test_dcgan_has_no_tflite_form(tmp_path):
    model = models.build("dcgan", 12, image_size=32, filters=16, latent_dim=16, z_steps=5, seed=0)
    with pytest.raises(export.TFLiteExportError, match="(?s)needs .*ReluGrad.*tf.while_loop.*gradients"):
        export.export_tflite(model, str(tmp_path), 32)
    assert not os.listdir(tmp_path) if os.path.exists(tmp_path) else True


def test_ffc_refuses_tflite_naming_its_fft_ops(tmp_path):
    """The photo model's Fourier units need IRFFT2D and complex tensors, which TFLite has only
    through TF Select (the Flex delegate): the converter is run and its refusal names them."""
    model = models.build("ffc", 12, seed=0, filters=8, blocks=1, d_filters=8)
    with pytest.raises(export.TFLiteExportError,
                       match=r"(?s)ffc cannot be converted.*needs .*IRFFT2D.*TF Select only"):
        export.export_tflite(model, str(tmp_path / "tflite"), 32)
    assert not os.path.exists(tmp_path / "tflite") or not os.listdir(tmp_path / "tflite")
