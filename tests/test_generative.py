import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from absl import flags

from tfinpaint import evaluate, export, models
from tfinpaint.data import train_pipeline
from tfinpaint import main as cli
from tfinpaint.config import make

SMALL = {"cvae": dict(latent_dim=64), "cvae_patch": dict(latent_dim=64),
         "gan": dict(filters=16, d_filters=16)}


def build(method, **kwargs):
    keras.utils.set_random_seed(0)
    model = models.build(method, 12, image_size=32, seed=0, **{**SMALL[method], **kwargs})
    cfg = make(method)  # the method's optimizer settings
    model.compile(keras.optimizers.Adam(cfg.learning_rate * 2, cfg.beta_1))
    model.build_optimizers()
    return model


def fit(model, cars, steps, epochs=1):
    return model.fit(train_pipeline(cars.train.take(512), 32, seed=0), steps_per_epoch=steps,
                     epochs=epochs, verbose=0, shuffle=False).history


@pytest.mark.parametrize("method", ["cvae", "cvae_patch"])
def test_cvae_trains_and_tracks_kl(method, cars):
    model = build(method)
    history = fit(model, cars, steps=12, epochs=4)
    names = ("loss", "kl", "reconstruction", "mean_reconstruction")
    assert all(np.isfinite(history[k]).all() for k in names)
    assert history["reconstruction"][-1] < 0.9 * history["reconstruction"][0], history
    assert history["mean_reconstruction"][-1] < 0.9 * history["mean_reconstruction"][0], history
    assert history["kl"][-1] > 0


def test_cvae_samples_repeat_for_a_seed_and_differ_across_seeds(cars, tmp_path):
    model = build("cvae")
    fit(model, cars, steps=3)
    images = tf.constant(np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32))
    masks = tf.constant(evaluate.protocol_masks(2, 32, 32, 12))
    a = model.sample(images, masks, 3, tf.constant([5, 0])).numpy()
    b = model.sample(images, masks, 3, tf.constant([5, 0])).numpy()
    c = model.sample(images, masks, 3, tf.constant([6, 0])).numpy()
    assert a.shape == (2, 3, 32, 32, 3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a[:, 0], a[:, 1])  # draws differ inside one call too
    known = np.broadcast_to((masks.numpy() > 0.5)[:, None], a.shape)
    np.testing.assert_array_equal(a[known], np.broadcast_to(images.numpy()[:, None], a.shape)[known])

    loaded = tf.saved_model.load(export.export(model, str(tmp_path / "cvae"), 32))
    served = loaded.signatures["sample"](image=images, mask=masks, samples=tf.constant(3),
                                         seed=tf.constant(5))["inpainted"].numpy()
    np.testing.assert_allclose(served, a, atol=1e-5)
    mean_fill = loaded.signatures["serving_default"](image=images, mask=masks)["inpainted"]
    np.testing.assert_allclose(mean_fill, model({"image": images, "mask": masks}), atol=1e-5)


def test_cvae_rejects_images_of_another_size():
    model = build("cvae")
    with pytest.raises(tf.errors.InvalidArgumentError, match="takes 32x32 images"):
        model({"image": tf.zeros([1, 40, 40, 3]), "mask": tf.ones([1, 40, 40, 1])})


@pytest.mark.parametrize("kwargs", [{}, {"generator": "ae", "global_discriminator": True}])
def test_gan_both_players_learn_and_d_accuracy_is_tracked(cars, kwargs):
    model = build("gan", **kwargs)
    g_before = [w.numpy().copy() for w in model.net.trainable_weights]
    d_before = [w.numpy().copy() for w in model.discriminator_weights]
    history = fit(model, cars, steps=8, epochs=3)
    for name in ("loss", "d_loss", "g_loss", "adversarial", "d_acc_real", "d_acc_fake"):
        assert np.isfinite(history[name]).all(), name
    assert "reconstruction" not in history  # `loss` is the reconstruction loss, as in val_loss
    assert all(0.0 <= a <= 1.0 for a in history["d_acc_real"] + history["d_acc_fake"])
    assert history["loss"][-1] < history["loss"][0], history
    assert history["d_loss"][-1] < history["d_loss"][0] + 0.05, history  # D does not fall apart
    assert any(not np.array_equal(a, w.numpy()) for a, w in zip(g_before, model.net.trainable_weights))
    assert any(not np.array_equal(a, w.numpy()) for a, w in zip(d_before, model.discriminator_weights))


@pytest.mark.parametrize("method,extra", [("cvae", ["--samples=2", "--latent_dim=64"]),
                                          ("cvae_patch", ["--latent_dim=64"]),
                                          ("gan", ["--alpha=0.01"]),
                                          ("dcgan", ["--image_size=16", "--filters=8",
                                                     "--latent_dim=8", "--z_steps=5"])])
def test_cli_end_to_end(method, extra, tmp_path, capsys):
    flags.FLAGS.unparse_flags()
    run = tmp_path / "run"
    flags.FLAGS(["tfinpaint", f"--method={method}", f"--model_dir={run}", "--epochs=1",
                 "--steps_per_epoch=2", "--batch_size=16", "--max_train_images=64",
                 "--eval_images=40", "--classical=mean", *extra])
    cli.run(["tfinpaint"])
    for name in ("metrics.json", "samples.png", "checkpoints/checkpoint",
                 f"export/{method}/1/saved_model.pb"):
        assert os.path.exists(run / name), name
    # Unconditional samples G(z): a grid of 64 for the DCGAN, nothing for the others.
    assert os.path.exists(run / "generated.png") == (method == "dcgan")
    if method == "dcgan":
        grid = tf.io.decode_png(tf.io.read_file(str(run / "generated.png"))).numpy()
        assert grid.shape == (8 * 20 * 2, 8 * 20 * 2, 3) and grid.std() > 0
    assert method in capsys.readouterr().out


def test_dcgan_trains_and_latent_search_lowers_the_contextual_loss(data_dir, tmp_path):
    from tfinpaint.data import load_dataset
    from tfinpaint.models.dcgan import contextual_weights

    faces = load_dataset("faces64", data_dir, image_size=32)
    keras.utils.set_random_seed(0)
    model = models.build("dcgan", 16, image_size=32, seed=0, filters=16, latent_dim=32, z_steps=40,
                         z_patience=0, blend=False)
    model.compile(keras.optimizers.Adam(2e-4, beta_1=0.5))
    model.build_optimizers()
    g_before = [w.numpy().copy() for w in model.net.trainable_weights]
    history = model.fit(train_pipeline(faces.train.take(256), 32, seed=0), steps_per_epoch=5,
                        epochs=2, verbose=0, shuffle=False).history
    assert all(np.isfinite(history[k]).all() for k in ("d_loss", "g_loss", "d_acc_real"))
    assert any(not np.array_equal(a, w.numpy()) for a, w in zip(g_before, model.net.trainable_weights))

    images = tf.constant(next(iter(faces.test.batch(4))).numpy() / 255.0, tf.float32)
    masks = tf.constant(evaluate.protocol_masks(4, 32, 32, 16, center=True))
    weights, target = contextual_weights(masks), 2.0 * images - 1.0
    search = tf.function(lambda steps: model.search(images, masks, (3, 0), steps))
    z0, _ = search(tf.constant(0))
    z, loss = search(tf.constant(40))
    before = model.search_losses(z0, target, weights)[0].numpy()
    after = model.search_losses(z, target, weights)[0].numpy()
    assert (after < before).all(), (before, after)
    np.testing.assert_array_equal(search(tf.constant(40))[0], z)  # seeded: repeatable

    # z_patience: a tolerance no step meets (after the first, which always counts) makes every
    # image stale `patience` steps later, so the search ends there: the same as a search of
    # patience + 1 steps.
    model.z_patience, model.z_tolerance = 3, 1.0
    early = tf.function(lambda steps: model.search(images, masks, (3, 0), steps))(tf.constant(40))
    model.z_patience = 0
    np.testing.assert_array_equal(early[0], search(tf.constant(4))[0])
    assert not np.array_equal(early[0], z)

    out = model({"image": images, "mask": masks}).numpy()
    known = np.broadcast_to(masks.numpy() > 0.5, out.shape)
    np.testing.assert_array_equal(out[known], images.numpy()[known])
    model.blend, model.z_steps = True, 5
    blended = model.fill(images, masks).numpy()
    w = weights.numpy()
    border = lambda x: (w * x).sum(axis=(1, 2)) / w.sum(axis=(1, 2))
    assert np.abs(border(blended) - border(images.numpy())).max() < 0.05  # colours matched
    model.blend, model.z_steps = False, 40

    # Restarts: the search starts from the best of the draws (the first of which is the
    # single-start draw), so its starting loss is never worse and on average better.
    start = tf.function(lambda: model.search(images, masks, (3, 0), tf.constant(0))[1])
    single = start().numpy()
    model.z_restarts = 8
    several = tf.function(lambda: model.search(images, masks, (3, 0), tf.constant(0))[1])().numpy()
    model.z_restarts = 1
    assert (several <= single + 1e-5).all() and several.mean() < single.mean(), (several, single)
    served = tf.saved_model.load(export.export(model, str(tmp_path / "dcgan"), 32))
    np.testing.assert_allclose(served.signatures["serving_default"](image=images, mask=masks)
                               ["inpainted"], out, atol=1e-4)


def test_poisson_blend_keeps_the_fills_gradients_and_meets_the_border():
    """A fill that differs from the truth by a harmonic field (a constant, a linear ramp) is
    corrected to the truth; a mean-colour offset alone would not undo the ramp."""
    from tfinpaint.models.dcgan import poisson_blend

    rng = np.random.default_rng(0)
    images = tf.constant(0.25 + 0.5 * rng.random((2, 32, 32, 3), dtype=np.float32))
    masks = tf.constant(evaluate.protocol_masks(2, 32, 32, 16, center=True))
    ramp = np.linspace(-0.2, 0.2, 32, dtype=np.float32)[None, None, :, None]
    fills = images + tf.constant(ramp) + tf.constant([0.1, -0.05])[:, None, None, None]
    hole = masks.numpy() < 0.5
    hole = np.broadcast_to(hole, images.shape)
    blended = poisson_blend(images, fills, masks).numpy()
    assert np.abs(blended - images.numpy())[hole].max() < 2e-3
    assert np.abs(fills.numpy() - images.numpy())[hole].max() > 0.1  # it did have to correct
    # Detail inside the hole is kept: noise added to the fill comes through unchanged.
    noise = tf.constant(0.05 * rng.standard_normal((2, 32, 32, 3)).astype(np.float32)) * (1 - masks)
    np.testing.assert_allclose(poisson_blend(images, fills + noise, masks).numpy()[hole],
                               (images + noise).numpy()[hole], atol=2e-3)


def test_crop_then_paste_returns_the_hole_exactly():
    from tfinpaint.models import crop_patch, paste_patch

    images = tf.constant(np.random.default_rng(0).random((6, 32, 32, 3), dtype=np.float32))
    masks = tf.constant(evaluate.protocol_masks(6, 32, 32, 12))
    patch = crop_patch(images, masks, 12, 12)
    assert patch.shape == (6, 12, 12, 3)
    back = paste_patch(patch, masks, 12).numpy()
    hole = np.broadcast_to(masks.numpy() < 0.5, back.shape)
    np.testing.assert_array_equal(back[hole], images.numpy()[hole])


def test_context_encoder_trains_both_players(data_dir, tmp_path):
    from tfinpaint.data import load_dataset

    faces = load_dataset("faces64", data_dir, image_size=32)
    keras.utils.set_random_seed(0)
    model = models.build("context_encoder", 16, image_size=32, seed=0, filters=16, bottleneck=32,
                         d_filters=16, loss="l1")
    model.compile(keras.optimizers.Adam(1e-3, beta_1=0.5))
    model.build_optimizers()
    assert model.net.output_shape == (None, 16, 16, 3)
    d_before = [w.numpy().copy() for w in model.discriminator.trainable_weights]
    history = model.fit(train_pipeline(faces.train.take(256), 16, seed=0), steps_per_epoch=8,
                        epochs=3, verbose=0, shuffle=False).history
    for name in ("loss", "d_loss", "g_loss", "adversarial", "d_acc_real", "d_acc_fake"):
        assert np.isfinite(history[name]).all(), name
    assert history["loss"][-1] < 0.9 * history["loss"][0], history
    assert any(not np.array_equal(a, w.numpy())
               for a, w in zip(d_before, model.discriminator.trainable_weights))
    images = tf.constant(next(iter(faces.test.batch(3))).numpy() / 255.0, tf.float32)
    masks = tf.constant(evaluate.protocol_masks(3, 32, 32, 16, center=True))
    out = model({"image": images, "mask": masks}).numpy()
    served = tf.saved_model.load(export.export(model, str(tmp_path / "ce"), 32))
    np.testing.assert_allclose(served.signatures["serving_default"](image=images, mask=masks)
                               ["inpainted"], out, atol=1e-5)


def test_context_encoder_cli_on_faces_with_step_samples(tmp_path, capsys):
    flags.FLAGS.unparse_flags()
    run = tmp_path / "run"
    flags.FLAGS(["tfinpaint", "--method=context_encoder", f"--model_dir={run}", "--epochs=1",
                 "--steps_per_epoch=3", "--batch_size=8", "--max_train_images=32",
                 "--eval_images=16", "--classical=mean,telea", "--image_size=32", "--filters=8",
                 "--bottleneck=16", "--sample_every=2"])
    cli.run(["tfinpaint"])
    out = capsys.readouterr().out
    assert "faces64 test, 16 images 32x32, 16x16 centre holes" in out
    assert os.listdir(run / "samples") == ["step_0000002.png"]
    assert os.path.exists(run / "export/context_encoder/1/saved_model.pb")


def test_dcgan_validation_completes_images_only_when_asked(data_dir):
    """val_search_steps gives validation a hole PSNR (keras-tuner's objective when searching
    lam), which the latent search's weight lam changes; without it only the GAN losses."""
    from tfinpaint.data import load_dataset

    faces = load_dataset("faces64", data_dir, image_size=32)
    images = next(iter(faces.test.batch(8))).numpy().astype(np.float32) / 255.0
    masks = evaluate.protocol_masks(8, 32, 32, 16, center=True)
    scores = {}
    for steps, lam in [(0, 0.1), (10, 0.1), (10, 100.0)]:
        model = models.build("dcgan", 16, image_size=32, seed=0, filters=16, latent_dim=32,
                             lam=lam, val_search_steps=steps)
        model.compile(keras.optimizers.Adam(2e-4, beta_1=0.5))
        scores[steps, lam] = model.evaluate(images, masks, batch_size=8, verbose=0, return_dict=True)
    assert "hole_psnr" not in scores[0, 0.1] and np.isfinite(scores[0, 0.1]["g_loss"])
    assert np.isfinite(scores[10, 0.1]["hole_psnr"]) and scores[10, 0.1]["hole_psnr"] > 0
    assert scores[10, 0.1]["hole_psnr"] != scores[10, 100.0]["hole_psnr"]


def test_adversarial_methods_share_one_step():
    """gan, context_encoder and dcgan write the hooks only; the step and its order are the
    base's (`Adversarial.train_step`)."""
    from tfinpaint.models.base import Adversarial
    from tfinpaint.models.context_encoder import ContextEncoder
    from tfinpaint.models.dcgan import DCGAN
    from tfinpaint.models.gan import CompletionGAN

    for cls, order in ((CompletionGAN, "alternating"), (ContextEncoder, "simultaneous"),
                       (DCGAN, "simultaneous")):
        assert issubclass(cls, Adversarial) and "train_step" not in vars(cls), cls
        assert {"discriminator_loss", "generator_loss"} <= set(vars(cls)), cls
        assert cls.update_order == order and order in Adversarial.UPDATE_ORDERS


def test_adversarial_losses():
    from tfinpaint import losses

    rng = np.random.default_rng(0)
    real = tf.constant(rng.normal(size=(4, 3, 3, 1)), tf.float32)
    fake = tf.constant(rng.normal(size=(4, 3, 3, 1)), tf.float32)
    close = dict(rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(losses.nonsaturating_generator(fake),
                               tf.reduce_mean(tf.nn.softplus(-fake)), **close)
    np.testing.assert_allclose(
        losses.nonsaturating_discriminator(real, fake),
        (tf.reduce_mean(tf.nn.softplus(-real)) + tf.reduce_mean(tf.nn.softplus(fake))) / 2, **close)
    # fake_weights: the share of each fake output that is fake (the rest real).
    ones, zeros = tf.ones([4, 3, 3, 1]), tf.zeros([4, 1, 1, 1])
    np.testing.assert_array_equal(losses.nonsaturating_discriminator(real, fake, ones),
                                  losses.nonsaturating_discriminator(real, fake))
    np.testing.assert_allclose(
        losses.nonsaturating_discriminator(real, fake, zeros),
        (tf.reduce_mean(tf.nn.softplus(-real)) + tf.reduce_mean(tf.nn.softplus(-fake))) / 2,
        **close)
    np.testing.assert_allclose(losses.least_squares_generator(fake),
                               np.mean((fake.numpy() - 1) ** 2), **close)
    np.testing.assert_allclose(losses.least_squares_discriminator(real, fake),
                               (np.mean((real.numpy() - 1) ** 2) + np.mean(fake.numpy() ** 2)) / 2,
                               **close)
    # Feature matching: mean over layers of the mean L1; no gradient through the real features.
    r = [tf.Variable(rng.normal(size=(2, 4, 4, 3)), dtype=tf.float32), tf.Variable([[1.0, 2.0]])]
    f = [tf.Variable(rng.normal(size=(2, 4, 4, 3)), dtype=tf.float32), tf.Variable([[0.0, 0.0]])]
    with tf.GradientTape() as tape:
        matching = losses.feature_matching(r, f)
    expected = (np.mean(np.abs(r[0].numpy() - f[0].numpy())) + 1.5) / 2
    np.testing.assert_allclose(matching, expected, **close)
    grads = tape.gradient(matching, r + f)
    assert grads[0] is None and grads[1] is None and grads[2] is not None
    with pytest.raises(ValueError, match="as many real as fake"):
        losses.feature_matching(r, f[:1])


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_r1_penalty_in_graph_mode_and_mixed_precision(policy):
    """gamma / 2 * E||grad_x D(x)||^2: for D(x) = <w, x> + b the gradient is w in every image;
    computed inside a tf.function under the discriminator's tape, its gradient reaches the
    weights (second order), in float32 under a bfloat16 policy too."""
    from tfinpaint import losses

    previous = keras.config.dtype_policy()
    keras.mixed_precision.set_dtype_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        inputs = keras.Input((4, 4, 3))
        x = keras.layers.Conv2D(2, 3, padding="same", activation="tanh")(inputs)
        d = keras.Model(inputs, keras.layers.Dense(1, dtype="float32")(keras.layers.Flatten()(x)))
        linear = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(),
                                   keras.layers.Dense(1)])
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
    images = tf.constant(np.random.default_rng(0).random((8, 4, 4, 3)), tf.float32)

    @tf.function
    def step(model, gamma):
        with tf.GradientTape() as tape:
            penalty, outputs = losses.r1_penalty(lambda x: model(x, training=True), images,
                                                 gamma, with_outputs=True)
        return penalty, outputs, tape.gradient(penalty, model.trainable_weights)

    penalty, outputs, grads = step(linear, 10.0)
    assert penalty.dtype == tf.float32 and outputs.shape == (8, 1)
    w = tf.cast(linear.layers[-1].kernel, tf.float32).numpy()
    np.testing.assert_allclose(penalty, 10.0 / 2 * np.sum(w ** 2),
                               rtol=1e-6 if policy == "float32" else 2e-2)
    penalty, _, grads = step(d, 1.0)
    assert np.isfinite(penalty.numpy()) and penalty > 0
    # Every weight but the last bias (which no gradient with respect to x depends on).
    assert all(g is not None and np.isfinite(g.numpy()).all() for g in grads[:-1]), grads
    # Several discriminators: their penalties add up.
    both = tf.function(lambda: losses.r1_penalty(lambda x: [linear(x), linear(x)], images))()
    np.testing.assert_allclose(both, 2 * losses.r1_penalty(linear, images), rtol=1e-6)
