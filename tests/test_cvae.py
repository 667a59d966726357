"""The CVAE draws fills that differ: prior network on the context, recognition network on the
complete window (training only), decoder at the prior mean for the default fill."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tfinpaint import evaluate, export, models
from tfinpaint.losses import gaussian_kl
from tfinpaint.models.cvae import CVAE

TINY = dict(latent_dim=8, filters=8)


def build(method="cvae_patch", lr=1e-3, **kwargs):
    keras.utils.set_random_seed(0)
    model = models.build(method, 12, image_size=32, seed=0, **{**TINY, **kwargs})
    model.compile(keras.optimizers.Adam(lr))
    model.build_optimizers()
    return model


def ambiguous(n, seed):
    """Images whose hole is black or white at random (a coin the context does not show), on a
    random flat colour: float [n, 32, 32, 3] images and their masks."""
    rng = np.random.default_rng(seed)
    masks = evaluate.protocol_masks(n, 32, 32, 12, seed=seed)
    background = rng.uniform(0.2, 0.8, (n, 1, 1, 3)).astype(np.float32)
    coin = rng.integers(0, 2, (n, 1, 1, 1)).astype(np.float32)
    return masks * background + (1 - masks) * coin, masks


def hole_means(images, masks):
    """Mean over the hole (pixels and channels) of images [..., H, W, 3] with masks [B, H, W, 1]."""
    hole = 1.0 - masks
    if images.ndim == 5:
        hole = hole[:, None]
    return (images * hole).sum(axis=(-3, -2, -1)) / (hole.sum(axis=(-3, -2, -1)) * 3)


def test_gaussian_kl_matches_numpy_and_the_standard_normal_case():
    rng = np.random.default_rng(0)
    mq, lq, mp, lp = (rng.normal(size=(4, 16)) for _ in range(4))
    ref = 0.5 * np.sum(lp - lq - 1 + (np.exp(lq) + (mq - mp) ** 2) / np.exp(lp), axis=1)
    np.testing.assert_allclose(gaussian_kl(*map(tf.constant, (mq, lq, mp, lp))), ref, rtol=1e-6)
    standard = -0.5 * np.sum(1 + lq - mq ** 2 - np.exp(lq), axis=1)  # against N(0, I)
    np.testing.assert_allclose(gaussian_kl(tf.constant(mq), tf.constant(lq)), standard, rtol=1e-6)
    np.testing.assert_allclose(gaussian_kl(*map(tf.constant, (mq, lq, mq, lq))), 0, atol=1e-9)


def test_draws_cover_both_answers_of_an_ambiguous_hole():
    """Holes that are black or white at random, which the context cannot tell: the default fill
    (prior mean) is the grey average, and the draws of one image go both ways. A CVAE whose
    sampling ignores the hole's content in training (q = p, or no recognition network) draws
    the same grey every time."""
    model = build(lr=2e-3)
    images, masks = ambiguous(2048, 1)
    model.fit(images, masks, batch_size=64, epochs=4, verbose=0)
    images, masks = ambiguous(64, 2)
    default = hole_means(model({"image": images, "mask": masks}).numpy(), masks)
    draws = hole_means(model.sample(images, masks, 16, tf.constant([0, 0])).numpy(), masks)
    assert np.abs(default - 0.5).mean() < 0.15, default
    assert draws.std(axis=1).mean() > 0.25, draws.round(2)  # 0.5 if each draw were black or white
    black, white = (draws < 0.25).mean(axis=1), (draws > 0.75).mean(axis=1)
    assert ((black > 0) & (white > 0)).mean() > 0.5, draws.round(2)  # both answers per image


@pytest.mark.parametrize("method", ["cvae", "cvae_patch"])
def test_inference_reads_neither_the_hole_nor_the_recognition_network(method):
    model = build(method)
    images, masks = ambiguous(4, 3)
    other = images * masks + (1 - masks) * (1 - images)  # the other answer in every hole
    fill = lambda x: model({"image": x, "mask": masks}).numpy()
    sample = lambda x: model.sample(x, masks, 3, tf.constant([1, 2])).numpy()
    _, values = model.losses_for(tf.constant(images), tf.constant(masks), training=False)
    before = fill(images), sample(images)
    np.testing.assert_array_equal(fill(other), before[0])
    np.testing.assert_array_equal(sample(other), before[1])
    for w in model.recognition.weights:
        w.assign(tf.random.normal(w.shape, seed=1))
    np.testing.assert_array_equal(fill(images), before[0])
    np.testing.assert_array_equal(sample(images), before[1])
    # ...but training does read both: the recognition network sees the complete window.
    _, changed = model.losses_for(tf.constant(images), tf.constant(masks), training=False)
    assert float(changed["kl"]) != float(values["kl"])
    assert float(changed["reconstruction"]) != float(values["reconstruction"])
    assert float(changed["mean_reconstruction"]) == float(values["mean_reconstruction"])


def test_loss_is_the_same_sum_in_training_and_validation(cars):
    from tfinpaint.data import train_pipeline

    model = build(kl_weight=1e-2, mean_weight=0.5)
    val_images, val_masks = ambiguous(96, 4)
    history = model.fit(train_pipeline(cars.train.take(256), 32, seed=0), steps_per_epoch=3,
                        epochs=2, verbose=0, validation_data=(val_images, val_masks),
                        validation_batch_size=32).history
    for prefix in ("", "val_"):
        h = {k: np.array(history[prefix + k]) for k in CVAE.TRACKED}
        np.testing.assert_allclose(
            h["loss"], h["reconstruction"] + 1e-2 * h["kl"] + 0.5 * h["mean_reconstruction"],
            rtol=1e-5)
        assert (h["kl"] > 0).all() and (h["reconstruction"] > 0).all()
    generators = [v for v in model.variables if v.path.endswith("seed_generator_state")]
    state = [v.numpy().copy() for v in generators]
    a = model.evaluate(val_images, val_masks, batch_size=32, verbose=0, return_dict=True)
    b = model.evaluate(val_images, val_masks, batch_size=32, verbose=0, return_dict=True)
    assert a["loss"] == b["loss"]  # q's draw uses fixed noise in validation
    assert a["loss"] == pytest.approx(history["val_loss"][-1], rel=1e-5)
    for before, v in zip(state, generators):  # validation leaves the training draws alone
        np.testing.assert_array_equal(before, v.numpy(), err_msg=v.path)


def test_checkpoint_restores_every_network_and_the_export_serves_the_prior(tmp_path):
    model = build(mean_weight=0.5)
    images, masks = ambiguous(64, 5)
    model.fit(images, masks, batch_size=32, epochs=1, verbose=0)
    path = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))
    fresh = build(mean_weight=0.5)
    tf.train.Checkpoint(model=fresh).restore(path).assert_existing_objects_matched()
    for a, b in zip(model.weights, fresh.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    x, m = images[:3], masks[:3]
    drawn = model.sample(x, m, 4, tf.constant([7, 0])).numpy()
    np.testing.assert_array_equal(fresh.sample(x, m, 4, tf.constant([7, 0])), drawn)

    loaded = tf.saved_model.load(export.export(model, str(tmp_path / "cvae_patch")))
    served = loaded.signatures["sample"](image=x, mask=m, samples=tf.constant(4),
                                         seed=tf.constant(7))["inpainted"].numpy()
    np.testing.assert_allclose(served, drawn, atol=1e-5)
    default = loaded.signatures["serving_default"](image=x, mask=m)["inpainted"].numpy()
    np.testing.assert_allclose(default, model({"image": x, "mask": m}), atol=1e-5)
    assert not np.allclose(served[:, 0], default, atol=1e-3)


def test_mixed_precision_keeps_the_latent_and_the_fill_float32():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = build()
        images, masks = ambiguous(32, 6)
        history = model.fit(images, masks, batch_size=16, epochs=1, verbose=0).history
        assert all(np.isfinite(history[k]).all() for k in CVAE.TRACKED)
        condition, mean, log_var, _ = model.prior(tf.constant(images), tf.constant(masks))
        assert mean.dtype == log_var.dtype == tf.float32
        # (model(...) itself returns bfloat16 here: Keras autocasts the call's inputs, in base)
        assert model.fill(tf.constant(images), tf.constant(masks)).dtype == tf.float32
        assert model.sample(images, masks, 2, tf.constant([0, 0])).dtype == tf.float32
    finally:
        keras.mixed_precision.set_global_policy("float32")
