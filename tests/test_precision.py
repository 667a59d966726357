"""Mixed precision: layers compute in the policy's dtype, while fills, losses, checkpoints and
every exported signature stay float32; under mixed_float16 every optimizer of a custom
train_step scales its loss; checkpoints restore across precisions."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tfinpaint import build, config, precision
from tfinpaint.data import HoleMaker, take_array
from tfinpaint.experiment import Experiment


@pytest.fixture(autouse=True)
def float32_afterwards():
    yield
    precision.apply("float32")


def _run(tmp_path, cars, policy, epochs):
    cfg = config.make("conv", precision=policy, epochs=epochs, steps_per_epoch=2, depth=1,
                      filters=8, model_dir=str(tmp_path / "run"), classical=())
    return Experiment(cfg, cars, log=lambda *a: None)


def test_bf16_training_exports_a_float32_signature_and_resumes_in_float32(tmp_path, cars):
    run = _run(tmp_path, cars, "mixed_bfloat16", epochs=1)
    assert run.model.net.get_layer("conv1").compute_dtype == "bfloat16"
    assert all(v.dtype == "float32" for v in run.model.net.weights)  # variables stay float32
    run.train()
    path = run.export()

    images = tf.constant(take_array(cars.test, 4), tf.float32) / 255.0
    masks = HoleMaker(12, seed=0)(images, seed=tf.constant([0, 0]))
    signature = tf.saved_model.load(path).signatures["serving_default"]
    assert {s.dtype for s in signature.structured_input_signature[1].values()} == {tf.float32}
    out = signature(image=images, mask=masks)["inpainted"]
    assert out.dtype == tf.float32
    known = masks.numpy()[..., 0] > 0.5
    np.testing.assert_array_equal(out.numpy()[known], images.numpy()[known])  # bit for bit
    weights = [w.numpy() for w in run.model.net.weights]

    precision.apply("float32")
    resumed = _run(tmp_path, cars, "float32", epochs=2)  # the bf16 run's checkpoint, in float32
    assert resumed.model.net.get_layer("conv1").compute_dtype == "float32"
    for before, after in zip(weights, resumed.model.net.weights):
        np.testing.assert_array_equal(before, after.numpy())
    assert resumed.steps_done() == 2
    resumed.train()
    assert resumed.steps_done() == 4


@pytest.mark.parametrize("method", ["gan", "context_encoder"])
def test_mixed_float16_scales_the_loss_of_every_optimizer(method, cars):
    cfg = config.make(method, precision="mixed_float16", filters=8, steps_per_epoch=1,
                      **({"image_size": 32, "dataset": "cifar10_cars", "bottleneck": 16,
                          "d_filters": 8} if method == "context_encoder" else {"depth": 1}))
    cfg = cfg.resolve(cars)
    model = build.model(cfg)
    optimizers = [model.optimizer, *model.extra_optimizers().values()]
    assert len(optimizers) == 2
    assert all(isinstance(o, keras.optimizers.LossScaleOptimizer) for o in optimizers)
    images = tf.random.stateless_uniform([8, 32, 32, 3], [1, 2])
    logs = model.fit(tf.data.Dataset.from_tensors(images), verbose=0).history
    assert all(np.isfinite(v).all() for v in logs.values()), logs
    fills = model({"image": images, "mask": HoleMaker(cfg.hole_size, seed=0)(images)})
    assert fills.dtype == tf.float32


def test_auto_says_what_it_chose():
    text = precision.describe("auto")
    assert "--precision=auto" in text and precision.resolve("auto") in text
    assert precision.describe("float32") == "precision float32"


@pytest.mark.skipif(bool(tf.config.list_physical_devices("GPU")), reason="a CPU-only check")
def test_bf16_on_a_cpu_without_native_bf16_is_called_out(monkeypatch):
    """Emulated bf16 is several times slower than float32: an explicit mixed_bfloat16 says so in
    the run's log, auto picks float32 there, and where bf16 is native nothing is said."""
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    assert "WARNING" in precision.describe("mixed_bfloat16")
    assert precision.resolve("auto") == "float32"
    assert precision.describe("float32") == "precision float32"
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    assert precision.describe("mixed_bfloat16") == "precision mixed_bfloat16"
    assert precision.resolve("auto") == "mixed_bfloat16"
