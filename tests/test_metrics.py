import numpy as np
import pytest
import tensorflow as tf

from tfinpaint import evaluate, metrics


def numpy_reference(images, outputs, masks):
    """The protocol's own arithmetic (as in shared/check_export.py), on uint8 values."""
    y = np.round(images * 255).astype(np.float64)
    o = np.clip(outputs * 255 + 0.5, 0, 255).astype(np.uint8).astype(np.float64)
    hole = np.broadcast_to(masks < 0.5, y.shape)
    out = {"hole_psnr": [], "psnr": [], "hole_l1": []}
    for i in range(len(y)):
        mse = np.mean((o[i][hole[i]] - y[i][hole[i]]) ** 2)
        out["hole_psnr"].append(10 * np.log10(255 ** 2 / max(mse, 1e-10)))
        out["psnr"].append(10 * np.log10(255 ** 2 / max(np.mean((o[i] - y[i]) ** 2), 1e-10)))
        out["hole_l1"].append(np.mean(np.abs(o[i][hole[i]] - y[i][hole[i]])) / 255)
    return {k: np.mean(v) for k, v in out.items()}


def test_metrics_agree_with_numpy_reference(test_cars):
    rng = np.random.default_rng(0)
    images = test_cars[:64].astype(np.float32) / 255
    outputs = np.clip(images + rng.normal(0, 0.1, images.shape), 0, 1).astype(np.float32)
    masks = evaluate.protocol_masks(64, 32, 32, 12)
    ref = numpy_reference(images, outputs, masks)
    for name in ("hole_psnr", "psnr", "hole_l1"):
        m = metrics.ImageMetric(name)
        m.update_state(images[:40], outputs[:40], masks[:40])
        m.update_state(images[40:], outputs[40:], masks[40:])
        assert float(m.result()) == pytest.approx(ref[name], rel=1e-4), name


def test_ssim_agrees_with_scikit_image_gaussian_ssim(test_cars):
    from skimage.metrics import structural_similarity

    images = test_cars[:16].astype(np.float32) / 255
    outputs = np.clip(images + np.random.default_rng(1).normal(0, 0.05, images.shape), 0, 1)
    outputs = (np.floor(outputs * 255 + 0.5) / 255).astype(np.float32)
    ours = metrics.ssim(tf.constant(images), tf.constant(outputs)).numpy()
    ref = [structural_similarity(o, i, channel_axis=-1, data_range=1.0, gaussian_weights=True,
                                 sigma=1.5, use_sample_covariance=False)
           for i, o in zip(images.astype(np.float64), outputs.astype(np.float64))]
    np.testing.assert_allclose(ours, ref, atol=2e-3)


def test_perfect_fill_is_capped_not_infinite():
    x = tf.random.uniform([2, 8, 8, 3])
    x = tf.floor(x * 255) / 255
    m = tf.concat([tf.zeros([2, 4, 8, 1]), tf.ones([2, 4, 8, 1])], axis=1)
    assert float(metrics.hole_psnr(x, x, m)[0]) == pytest.approx(100.0)


def test_protocol_masks_and_classical_anchors_match_design(test_cars):
    """Same holes as shared/check_export.py and classical_baselines.py: the anchors reproduce."""
    rows = {r["method"]: r for r in evaluate.evaluate({}, test_cars, 12, classical=("mean", "telea"))}
    assert rows["mean"]["hole_psnr"] == pytest.approx(12.67, abs=0.01)
    assert rows["mean"]["psnr"] == pytest.approx(21.19, abs=0.01)
    assert rows["telea"]["hole_psnr"] == pytest.approx(15.76, abs=0.01)
    assert rows["telea"]["psnr"] == pytest.approx(24.28, abs=0.01)


def test_a_slow_fill_reports_its_progress_and_scores_as_one_call(test_cars, capsys, monkeypatch):
    """A fill slower than SLOW_FILL_SECONDS (dcgan's latent search) prints a line per batch with
    what is done and left; the figures are those of a fill in one call."""
    import time

    images = test_cars[:40]

    def fill(x, m):
        time.sleep(0.05)  # 8 warm-up images: 6 ms an image, 0.25 s for 40
        return tf.image.flip_left_right(x)

    quick = evaluate.evaluate({"flip": fill}, images, 12, classical=())
    assert "images filled" not in capsys.readouterr().out
    monkeypatch.setattr(evaluate, "SLOW_FILL_SECONDS", 0.1)
    monkeypatch.setattr(evaluate, "PROGRESS_EVERY_SECONDS", 0.1)  # batches of about 16
    slow = evaluate.evaluate({"flip": fill}, images, 12, classical=())
    out = capsys.readouterr().out
    assert "Filling 40 test images with flip" in out
    lines = [line for line in out.splitlines() if "images filled" in line]
    assert len(lines) > 1 and "about" in lines[0] and lines[-1].strip().startswith("flip: 40/40")
    for key in ("hole_psnr", "psnr", "ssim", "hole_l1", "swd"):
        assert slow[0][key] == pytest.approx(quick[0][key], rel=1e-6), key
