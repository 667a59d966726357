import keras
import numpy as np
import pytest
import tensorflow as tf

from tfinpaint import evaluate, models
from tfinpaint.data import train_pipeline
from tfinpaint.models.base import Inpainter
from tfinpaint.utils import ConfigError

TINY = {"conv": dict(depth=2, filters=16), "ae": {}, "ae_patch": {}}


def train_few_steps(method, cars, steps, lr=2e-3, batch=32, epochs=1, **kwargs):
    keras.utils.set_random_seed(0)
    model = models.build(method, 12, seed=0, **{**TINY[method], **kwargs})
    model.compile(keras.optimizers.Adam(lr))
    history = model.fit(train_pipeline(cars.train.take(1024), batch, seed=0),
                        steps_per_epoch=steps, epochs=epochs, verbose=0, shuffle=False)
    return model, history.history["loss"]


@pytest.mark.parametrize("method", ["conv", "ae", "ae_patch"])
def test_loss_goes_down_on_a_fixed_seed(method, cars):
    _, losses = train_few_steps(method, cars, steps=10, epochs=3)
    assert np.all(np.isfinite(losses))
    assert losses[-1] < 0.8 * losses[0], losses


def test_trained_model_beats_mean_fill_on_held_out_images(cars, test_cars):
    model, _ = train_few_steps("conv", cars, steps=150, lr=3e-3, known_weight=0.0)
    fill = lambda x, m: model({"image": x, "mask": m})
    rows = {r["method"]: r for r in evaluate.evaluate({"conv": fill}, test_cars[:300], 12,
                                                      classical=("mean",))}
    print({k: round(r["hole_psnr"], 2) for k, r in rows.items()})
    assert rows["conv"]["hole_psnr"] > rows["mean"]["hole_psnr"] + 1.0, rows


@pytest.mark.parametrize("method", ["conv", "ae", "ae_patch"])
@pytest.mark.parametrize("size", [(32, 32), (40, 36)])
def test_composite_keeps_known_pixels_bit_for_bit(method, size):
    model = models.build(method, 12, seed=0, **TINY[method])
    rng = np.random.default_rng(0)
    images = rng.random((3, *size, 3), dtype=np.float32)
    masks = evaluate.protocol_masks(3, *size, 12)
    out = model({"image": images, "mask": masks}).numpy()
    assert out.shape == images.shape
    known = np.broadcast_to(masks > 0.5, images.shape)
    np.testing.assert_array_equal(out[known], images[known])
    assert np.abs(out[~known] - images[~known]).max() > 0  # the hole was filled by the model


def test_model_ignores_hole_pixels():
    model = models.build("conv", 12, seed=0, **TINY["conv"])
    masks = evaluate.protocol_masks(2, 32, 32, 12)
    a = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    b = np.where(masks > 0.5, a, 1.0 - a)
    np.testing.assert_array_equal(model({"image": a, "mask": masks}).numpy(),
                                  model({"image": b, "mask": masks}).numpy())


def _coded_patch_net(p, check_window):
    """A 'network' whose patch pixel (i, j) holds the code i * p + j, and which records whether
    the hole sits exactly in the middle of the window it was given."""
    def net(window, training=False):
        check_window.append(window[:, p // 2:p // 2 + p, p // 2:p // 2 + p, 3].numpy())
        code = tf.reshape(tf.range(p * p, dtype=tf.float32), [1, p, p, 1]) / (p * p)
        return tf.tile(code, [tf.shape(window)[0], 1, 1, 3])
    return net


def test_patch_is_pasted_exactly_at_the_hole():
    p, windows = 12, []
    model = Inpainter(_coded_patch_net(p, windows), patch_size=p, hole_size=12)
    masks = evaluate.protocol_masks(6, 32, 32, 12)
    masks[0] = evaluate.protocol_masks(1, 32, 32, 12, center=True)[0]
    fill = model.fill(tf.zeros([6, 32, 32, 3]), tf.constant(masks)).numpy()
    code = np.arange(p * p, dtype=np.float32).reshape(p, p) / (p * p)
    for i in range(6):
        rows, cols = np.where(masks[i, ..., 0] == 0)
        np.testing.assert_array_equal(fill[i, rows.min():rows.max() + 1, cols.min():cols.max() + 1, 0],
                                      code)
    np.testing.assert_array_equal(windows[0], 0.0)  # the hole is the window's central p x p


def test_unknown_method_names_the_choices():
    with pytest.raises(ConfigError, match="ae_patch"):
        models.build("resnet9000", 12)
