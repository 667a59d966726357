"""What a model is judged and exported with matches what it learned (issue: after 3 epochs the
exported ae_patch scored 12.46 dB while its training log said 16.24: BatchNorm moving statistics
lagging behind the weights)."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tfinpaint import metrics, models
from tfinpaint.data import HoleMaker, eval_pipeline, train_pipeline


def test_one_epoch_inference_mode_matches_training_mode(cars):
    keras.utils.set_random_seed(0)
    model = models.build("ae_patch", 12, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.build_optimizers()
    steps = cars.sizes["train"] // 64  # one epoch
    model.fit(train_pipeline(cars.train, 64, seed=0), steps_per_epoch=steps, epochs=1, verbose=0)
    images, masks = next(iter(eval_pipeline(cars.val, 256, HoleMaker(12, seed=0))))
    # Inference mode first: a training-mode call moves the BatchNorm statistics.
    inference = model({"image": images, "mask": masks}, training=False)
    training = model({"image": images, "mask": masks}, training=True)
    psnr = {mode: float(tf.reduce_mean(metrics.hole_psnr(images, out, masks)))
            for mode, out in (("inference", inference), ("training", training))}
    assert abs(psnr["inference"] - psnr["training"]) <= 0.3, psnr
    assert psnr["inference"] > 14.0, psnr  # and the model did learn something in that epoch


@pytest.mark.parametrize("hole", [12, 10, 11, 9])
def test_patch_methods_loss_frame_gives_the_whole_image_figures(hole):
    """ae_patch trains on the patch frame (no paste in the step): for square holes its loss and
    hole PSNR equal those of the pasted whole image, which validation reports."""
    from tfinpaint.models.base import composite

    model = models.build("ae_patch", hole, seed=0)
    images = tf.constant(np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3)) / 255.0,
                         tf.float32)
    masks = HoleMaker(hole, seed=0)(images, seed=tf.constant([1, 2]))
    fills = model.fill(images, masks)
    targets, frame_masks, to_frame = model.loss_frame(images, masks)
    assert targets.shape[1] == model.patch_size == 12  # the patch frame, not the image
    np.testing.assert_allclose(model.reconstruction_loss(targets, to_frame(fills), frame_masks),
                               model.reconstruction_loss(images, fills, masks), rtol=1e-5)
    np.testing.assert_allclose(
        metrics.hole_psnr(targets, to_frame(fills), frame_masks),
        metrics.hole_psnr(images, composite(images, fills, masks), masks), rtol=1e-5)
