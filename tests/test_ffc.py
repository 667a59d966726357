"""The photo method `ffc`: the Fourier unit (shapes at any size, a receptive field over the whole
image, gradients, bf16), a few adversarial training steps on real photos, and its export (any
size, known pixels bit for bit)."""
import os

import numpy as np
import pytest
import tensorflow as tf

from tfinpaint import build, config, export, precision
from tfinpaint.models.ffc import FourierUnit, ffc_generator


@pytest.mark.parametrize("shape", [(2, 8, 8, 6), (1, 7, 13, 6), (1, 40, 24, 6)])
def test_fourier_unit_keeps_any_size_and_sees_the_whole_image(shape):
    unit = FourierUnit(5)
    x = tf.random.stateless_uniform(shape, [1, 2])
    y = unit(x)
    assert y.shape == shape[:3] + (5,) and y.dtype == tf.float32
    # One pixel changed in a corner changes the output at the opposite corner.
    bumped = tf.tensor_scatter_nd_add(x, [[0, 0, 0, 0]], [1.0])
    far = unit(bumped)[0, -1, -1] - y[0, -1, -1]
    assert float(tf.reduce_max(tf.abs(far))) > 1e-4


def test_fourier_unit_has_gradients_and_runs_in_float32_under_bf16():
    precision.apply("mixed_bfloat16")
    try:
        unit = FourierUnit(4)
        x = tf.cast(tf.random.stateless_uniform((1, 16, 12, 4), [3, 4]), tf.bfloat16)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = unit(x)
            loss = tf.reduce_mean(tf.square(y))
        grads = tape.gradient(loss, [x] + unit.trainable_weights)
        assert y.dtype == tf.float32 and unit.compute_dtype == "float32"
        assert all(g is not None and bool(tf.reduce_all(tf.math.is_finite(tf.cast(g, tf.float32))))
                   for g in grads)
        assert float(tf.reduce_max(tf.abs(tf.cast(grads[0], tf.float32)))) > 0
        net = ffc_generator(4, 1)  # the whole generator in bf16: float32 out, any size
        out = net(tf.random.stateless_uniform((1, 24, 40, 4), [5, 6]))
        assert out.shape == (1, 24, 40, 3) and out.dtype == tf.float32
    finally:
        precision.apply("float32")


@pytest.fixture(scope="module")
def trained(data_dir):
    cfg = config.make("ffc", data_dir=data_dir, image_size=64, batch_size=2, filters=4,
                      blocks=1, d_filters=4, steps_per_epoch=3, epochs=1, max_train_images=16,
                      precision="float32")
    data = build.splits(cfg)
    cfg = cfg.resolve(data)
    model = build.model(cfg)
    train, _ = build.pipelines(cfg, data, build.hole_maker(cfg))
    history = model.fit(train, steps_per_epoch=3, epochs=1, verbose=0)
    return model, history.history


def test_ffc_trains_adversarially_on_photo_holes(trained):
    model, history = trained
    for key in ("loss", "g_loss", "d_loss", "adversarial", "r1", "feature_matching",
                "d_acc_real", "d_acc_fake", "hole_psnr"):
        assert np.isfinite(history[key]).all(), key
    assert model.hole_maker.kind == "photo"


def test_ffc_export_fills_any_size_and_keeps_known_pixels(trained, tmp_path):
    model, _ = trained
    path = export.export(model, str(tmp_path / "ffc"))
    serve = tf.saved_model.load(path).signatures["serving_default"]
    for h, w in ((37, 61), (64, 48)):
        image = tf.random.stateless_uniform((1, h, w, 3), [h, w])
        mask = tf.cast(tf.random.stateless_uniform((1, h, w, 1), [w, h]) > 0.3, tf.float32)
        out = serve(image=image, mask=mask)["inpainted"]
        assert out.shape == (1, h, w, 3)
        known = tf.broadcast_to(mask > 0.5, out.shape)
        np.testing.assert_array_equal(tf.boolean_mask(out, known), tf.boolean_mask(image, known))


def test_init_from_warm_starts_at_another_size_and_refuses_other_settings(data_dir, tmp_path):
    from tfinpaint.experiment import Experiment
    from tfinpaint.utils import ConfigError

    common = dict(data_dir=data_dir, batch_size=2, filters=4, blocks=1, d_filters=4,
                  steps_per_epoch=2, epochs=1, max_train_images=8, precision="float32",
                  checkpoint_every_steps=0)
    first = Experiment(config.make("ffc", image_size=64, model_dir=str(tmp_path / "a"), **common),
                       log=lambda *_: None)
    first.train()
    second = Experiment(config.make("ffc", image_size=96, model_dir=str(tmp_path / "b"),
                                    init_from=str(tmp_path / "a"), **common), log=lambda *_: None)
    for a, b in zip(first.model.net.weights, second.model.net.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert second.steps_done() == 0  # the optimizer starts afresh
    with pytest.raises(ConfigError, match="other settings.*filters"):
        Experiment(config.make("ffc", image_size=64, model_dir=str(tmp_path / "c"),
                               init_from=str(tmp_path / "a"), **{**common, "filters": 8}),
                   log=lambda *_: None)


def test_init_from_a_shallower_network_deepens_it(data_dir, tmp_path):
    """More `blocks` than the weights have: the shallower generator's layers are copied by name,
    the extra blocks start close to the identity (the fill barely moves) and still learn, and the
    discriminator is carried over."""
    from tfinpaint.experiment import Experiment

    common = dict(data_dir=data_dir, batch_size=2, filters=4, d_filters=4, steps_per_epoch=2,
                  epochs=1, max_train_images=8, precision="float32", checkpoint_every_steps=0,
                  image_size=64)
    first = Experiment(config.make("ffc", blocks=1, model_dir=str(tmp_path / "a"), **common),
                       log=lambda *_: None)
    first.train()
    deeper = Experiment(config.make("ffc", blocks=3, model_dir=str(tmp_path / "b"),
                                    init_from=str(tmp_path / "a"), **common), log=lambda *_: None)
    shallow, deep = first.model.net, deeper.model.net
    assert len(deep.weights) > len(shallow.weights)
    for layer in (layer for layer in shallow.layers if layer.weights):
        for a, b in zip(layer.weights, deep.get_layer(layer.name).weights):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    for a, b in zip(first.model.discriminator.weights, deeper.model.discriminator.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    x = tf.random.stateless_uniform((2, 64, 64, 4), [3, 4])
    change = np.abs(deep(x).numpy() - shallow(x).numpy())
    assert 0 < change.max() < 0.01, change.max()  # near, not exactly, the identity
    new = deep.get_layer("block3b_l2l").kernel
    before = new.numpy()
    deeper.train()
    assert not np.array_equal(before, new.numpy())  # the extra blocks get gradients


def test_init_from_pretrained_fine_tunes_the_shipped_generator(data_dir, tmp_path):
    """--init_from=pretrained:photos starts from the shipped generator's weights (checksummed),
    at a training size of its own; other settings or an unknown name are refused by name."""
    from tfinpaint import pretrained
    from tfinpaint.experiment import Experiment
    from tfinpaint.utils import ConfigError

    shipped = pretrained.manifest("photos")["settings"]
    common = dict(data_dir=data_dir, batch_size=2, steps_per_epoch=1, epochs=1,
                  max_train_images=8, precision="float32", checkpoint_every_steps=0,
                  image_size=64, **shipped)
    run = Experiment(config.make("ffc", model_dir=str(tmp_path / "a"),
                                 init_from="pretrained:photos", **common), log=lambda *_: None)
    for a, b in zip(pretrained.load("photos").net.weights, run.model.net.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert run.steps_done() == 0
    with pytest.raises(ConfigError, match="other settings.*blocks"):
        Experiment(config.make("ffc", model_dir=str(tmp_path / "b"), init_from="pretrained:photos",
                               **{**common, "blocks": 2}), log=lambda *_: None)
    with pytest.raises(ConfigError, match="no shipped model 'nope'"):
        Experiment(config.make("ffc", model_dir=str(tmp_path / "c"), init_from="pretrained:nope",
                               **common), log=lambda *_: None)


def test_package_and_load_check_the_weights(data_dir, tmp_path, monkeypatch):
    """A run packaged as a shipped model loads by name with its SHA-256 checked, fills with
    known pixels bit for bit, and a damaged weights file is refused."""
    from tfinpaint import pretrained
    from tfinpaint.experiment import Experiment

    cfg = config.make("ffc", data_dir=data_dir, image_size=64, batch_size=2, filters=4, blocks=1,
                      d_filters=4, steps_per_epoch=2, epochs=1, max_train_images=8,
                      precision="float32", checkpoint_every_steps=0,
                      model_dir=str(tmp_path / "run"))
    run = Experiment(cfg, log=lambda *_: None)
    run.train()
    monkeypatch.setattr(pretrained, "HERE", str(tmp_path / "shipped"))
    (tmp_path / "shipped").mkdir()
    pretrained.package(str(tmp_path / "run"), "tiny", command="test")
    assert pretrained.names() == ["tiny"]
    model = pretrained.load("tiny")
    image = tf.random.stateless_uniform((1, 50, 70, 3), [1, 1])
    mask = tf.cast(tf.random.stateless_uniform((1, 50, 70, 1), [2, 2]) > 0.2, tf.float32)
    out = model({"image": image, "mask": mask})
    reference = run.model({"image": image, "mask": mask})
    np.testing.assert_allclose(out, reference, atol=1e-6)
    known = tf.broadcast_to(mask > 0.5, out.shape)
    np.testing.assert_array_equal(tf.boolean_mask(out, known), tf.boolean_mask(image, known))
    weights = tmp_path / "shipped" / "tiny" / pretrained.WEIGHTS
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte changed
    weights.write_bytes(bytes(data))
    with pytest.raises(pretrained.PretrainedError, match="damaged or replaced"):
        pretrained.load("tiny")
    with pytest.raises(pretrained.PretrainedError, match="no shipped model 'nope'"):
        pretrained.load("nope")


def test_the_shipped_photo_model_loads_checked_and_fills_a_kodak_photo(data_dir):
    """The weights committed in the package: their SHA-256 matches the manifest, they fill a
    Kodak photo at its own size with every known pixel bit for bit, and the fill of a hole over
    real structure is closer to the truth than the known pixels' mean colour."""
    from tfinpaint import photo_protocol, pretrained
    from tfinpaint.data.masks import read_image

    assert "photos" in pretrained.names()
    info = pretrained.manifest("photos")
    weights = os.path.join(pretrained.folder("photos"), pretrained.WEIGHTS)
    assert pretrained.sha256(weights) == info["sha256"] and info["method"] == "ffc"
    assert os.path.getsize(weights) < 25e6
    image = read_image(os.path.join(data_dir, "photos", "kodak", "kodim23.png"))
    mask = np.ones(image.shape[:2] + (1,), np.float32)
    mask[180:300, 300:460] = 0.0
    out = photo_protocol.composite(image, mask,
                                   np.asarray(photo_protocol.pretrained_fill("photos")(image, mask)))
    known = mask[..., 0] > 0.5
    np.testing.assert_array_equal(out[known], image[known])
    truth = image[~known].astype(np.float32)
    model_error = np.abs(out[~known] - truth).mean()
    mean_error = np.abs(image[known].mean(axis=0) - truth).mean()
    assert model_error < 0.9 * mean_error, (model_error, mean_error)
