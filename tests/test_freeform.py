"""Free-form holes: the maker (areas, seeds, resume, XLA), what every method does with them, the
free-form protocol's PNG masks, --mask_files and --mode=inpaint with the same masks."""
import glob
import os

import numpy as np
import pytest
import tensorflow as tf

from tfinpaint import build, config, evaluate, export, models
from tfinpaint.data import HoleMaker, load_masks, read_mask, train_pipeline
from tfinpaint.data.holes import (COMPACT_FILL, COMPACT_ONLY_METHODS, FREEFORM_METHODS, KINDS,
                                  NOT_COMPACT, box_masks, freeform_masks, hole_fill_ratio)
from tfinpaint.utils import ConfigError

FREE = [k for k in KINDS if k != "square"]


def hole_area(masks):
    return (np.asarray(masks)[..., 0] < 0.5).mean(axis=(1, 2))


@pytest.mark.parametrize("kind", ["strokes", "blotches", "freeform"])
@pytest.mark.parametrize("area", [(0.1, 0.4), (0.1, 0.2), (0.3, 0.4)])
def test_hole_area_distribution_matches_the_requested_range(kind, area):
    """Each image's area lands in [low, high] (a few in a thousand may not, when one element
    jumps over the whole band), spread over the band as the uniform target is."""
    low, high = area
    masks = freeform_masks(1500, 32, 32, tf.constant([4, 2]), kind, area).numpy()
    assert masks.shape == (1500, 32, 32, 1) and set(np.unique(masks)) == {0.0, 1.0}
    a = hole_area(masks)
    assert ((a >= low) & (a <= high)).mean() >= 0.97, ((a < low).mean(), (a > high).mean())
    width = high - low
    np.testing.assert_allclose(np.mean(a), low + width / 2, atol=0.06 * width + 0.003)
    q10, q90 = np.quantile(a, [0.1, 0.9])
    np.testing.assert_allclose([q10, q90], [low + 0.1 * width, low + 0.9 * width],
                               atol=0.08 * width + 0.005)


def test_mixed_holes_are_squares_or_freeform():
    masks = freeform_masks(600, 32, 32, tf.constant([1, 1]), "mixed", (0.2, 0.4), hole_size=12)
    a = hole_area(masks.numpy())
    square = np.isclose(a, 144 / 1024) & np.isclose(hole_fill_ratio(masks).numpy(), 1.0)
    assert 0.25 < square.mean() < 0.42, square.mean()  # a third of the images
    assert ((a[~square] >= 0.2) & (a[~square] <= 0.4)).mean() >= 0.97
    with pytest.raises(ValueError, match="hole_size"):
        freeform_masks(2, 32, 32, tf.constant([1, 1]), "mixed")


def test_strokes_are_thin_and_blotches_are_solid():
    """What the kinds look like, in numbers: a brush stroke is a few pixels wide (most of its
    pixels touch the known area); a blotch is a solid shape (most of its pixels do not)."""
    def edge_share(masks):
        hole = masks[..., 0] < 0.5
        padded = np.pad(hole, ((0, 0), (1, 1), (1, 1)), constant_values=False)
        inner = hole & padded[:, :-2, 1:-1] & padded[:, 2:, 1:-1] & padded[:, 1:-1, :-2] \
            & padded[:, 1:-1, 2:]
        return 1 - inner.sum() / hole.sum()

    strokes = freeform_masks(200, 32, 32, tf.constant([0, 3]), "strokes").numpy()
    blotches = freeform_masks(200, 32, 32, tf.constant([0, 3]), "blotches").numpy()
    assert edge_share(strokes) > 0.6 > 0.45 > edge_share(blotches)
    assert np.median(hole_fill_ratio(strokes)) < COMPACT_FILL  # patch methods refuse them


def test_seeded_and_independent_of_the_square_streams():
    images = tf.zeros([16, 32, 32, 3])
    a, b = HoleMaker(12, seed=7, kind="freeform"), HoleMaker(12, seed=7, kind="freeform")
    first = a(images).numpy()
    np.testing.assert_array_equal(first, b(images).numpy())
    assert not np.array_equal(a(images).numpy(), first)  # the next draw differs
    assert not np.array_equal(HoleMaker(12, seed=8, kind="freeform")(images).numpy(), first)
    key = tf.constant([3, 4])
    np.testing.assert_array_equal(a(images, seed=key).numpy(), b(images, seed=key).numpy())


def test_same_seed_gives_the_same_masks_after_a_resume(tmp_path):
    """The maker's SeedGenerator state is what a checkpoint restores: a new maker restored from
    it draws what the first one drew after the save; without the restore it would not."""
    images = tf.zeros([32, 32, 32, 3])
    maker = HoleMaker(12, seed=5, kind="freeform")
    step = tf.function(lambda x: maker(x))
    step(images)
    step(images)
    path = tf.train.Checkpoint(rng=[maker.seed_generator.state]).save(str(tmp_path / "ckpt"))
    after = [step(images).numpy() for _ in range(3)]
    resumed = HoleMaker(12, seed=5, kind="freeform")
    tf.train.Checkpoint(rng=[resumed.seed_generator.state]).restore(path).assert_consumed()
    resumed_step = tf.function(lambda x: resumed(x))
    for expected in after:
        np.testing.assert_array_equal(resumed_step(images).numpy(), expected)
    fresh = tf.function(lambda x, m=HoleMaker(12, seed=5, kind="freeform"): m(x))
    assert not np.array_equal(fresh(images).numpy(), after[0])


def test_a_resumed_run_draws_the_uninterrupted_runs_holes(cars, tmp_path):
    """Through Experiment: 2 epochs in one go, or 1 epoch then a resume to 2, end with the same
    hole-maker state and draw the same next masks (the state is checkpointed with the run)."""
    from tfinpaint.experiment import Experiment

    def run(folder, epochs):
        cfg = config.make("conv", holes_kind="freeform", epochs=epochs, steps_per_epoch=2,
                          batch_size=16, max_train_images=64, depth=1, filters=4,
                          model_dir=str(tmp_path / folder), checkpoint_every_steps=0,
                          classical=())
        exp = Experiment(cfg, cars, log=lambda *a: None)
        exp.train()
        return exp

    whole = run("whole", 2)
    run("parts", 1)
    parts = run("parts", 2)
    assert parts.steps_done() == whole.steps_done() == 4
    state = [m.hole_maker.seed_generator.state.numpy() for m in (whole.model, parts.model)]
    np.testing.assert_array_equal(*state)
    images = tf.zeros([8, 32, 32, 3])
    np.testing.assert_array_equal(whole.model.hole_maker(images).numpy(),
                                  parts.model.hole_maker(images).numpy())
    assert whole.model.hole_maker.kind == "freeform"


def test_in_the_data_map_repeatable_and_resumable():
    """--holes=data: the pipeline keys the maker on (seed, batch index): the same masks on every
    pass, and a stream resumed `skip` batches in yields the uninterrupted stream's masks."""
    images = tf.data.Dataset.from_tensor_slices(np.zeros((96, 32, 32, 3), np.uint8))
    maker = HoleMaker(12, kind="strokes", area=(0.2, 0.3))
    run = lambda skip=0: [m.numpy() for _, m in  # noqa: E731
                          train_pipeline(images, 16, 3, maker, skip=skip).take(5)]
    first, again, resumed = run(), run(), run(skip=2)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(first[2:], resumed):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], first[1])
    a = hole_area(np.concatenate(first))
    assert ((a >= 0.2) & (a <= 0.3)).mean() >= 0.95


def test_runs_jit_compiled_and_at_other_sizes():
    """TensorFlow ops only: it compiles with XLA (a GPU train_step is jit-compiled) and scales
    with the image side."""
    fn = tf.function(lambda s: freeform_masks(32, 32, 32, s, "mixed", (0.1, 0.4), 12),
                     jit_compile=True)
    a = hole_area(fn(tf.constant([0, 1])).numpy())
    assert ((a >= 0.1) & (a <= 0.4)).mean() >= 0.9
    big = freeform_masks(64, 64, 96, tf.constant([0, 2]), "freeform", (0.1, 0.2)).numpy()
    assert big.shape == (64, 64, 96, 1)
    b = hole_area(big)
    assert ((b >= 0.1) & (b <= 0.2)).mean() >= 0.9


def test_compact_means_half_the_bounding_box():
    square = box_masks(tf.constant([2]), tf.constant([3]), 12, 12, 32, 32)
    rect = box_masks(tf.constant([0]), tf.constant([0]), 4, 20, 32, 32)
    yy, xx = np.mgrid[:32, :32]
    disc = ((yy - 15.5) ** 2 + (xx - 15.5) ** 2 > 36).astype(np.float32)[None, ..., None]
    diagonal = np.ones((1, 32, 32, 1), np.float32)
    diagonal[0, np.arange(20), np.arange(20)] = 0
    two = (square.numpy() * box_masks(tf.constant([24]), tf.constant([24]), 6, 6, 32, 32).numpy())
    none = np.ones((1, 32, 32, 1), np.float32)
    ratio = hole_fill_ratio(tf.constant(np.concatenate(
        [square, rect, disc, diagonal, two, none]))).numpy()
    np.testing.assert_allclose(ratio[[0, 1, 5]], 1.0)
    assert 0.7 < ratio[2] < 0.85 and ratio[3] < 0.1 and ratio[4] < COMPACT_FILL
    assert (ratio >= COMPACT_FILL).tolist() == [True, True, True, False, False, True]


def test_config_flags_and_refusals():
    cfg = config.make("unet", holes_kind="mixed", hole_area_min=0.2, hole_area_max=0.3,
                      eval_holes="freeform_30_40")
    assert (cfg.holes_kind, cfg.hole_area_min, cfg.hole_area_max) == ("mixed", 0.2, 0.3)
    from tfinpaint import flags as tfflags

    names = {spec[1]: spec for spec in tfflags.specs("data") + tfflags.specs("evaluation")}
    assert names["holes_kind"][4]["choices"] == KINDS
    assert set(evaluate.FREEFORM) <= set(names["eval_holes"][4]["choices"])
    assert "hole_area_min" in names and "hole_area_max" in names
    for method in COMPACT_ONLY_METHODS:
        for bad in (dict(holes_kind="strokes"), dict(eval_holes="freeform_10_20")):
            with pytest.raises(ConfigError, match=f"{method} is a patch method.*"
                               + ", ".join(FREEFORM_METHODS)):
                config.make(method, **bad)
        config.make(method)  # squares are fine
    with pytest.raises(ConfigError, match="larger than hole_area_max"):
        config.make("conv", hole_area_min=0.5, hole_area_max=0.2)
    with pytest.raises(ConfigError, match="holes_kind must be one of"):
        config.make("conv", holes_kind="scribbles")


TINY = {"conv": dict(depth=1, filters=4), "ae": dict(filters=4), "unet": dict(filters=4),
        "ae_patch": dict(filters=4), "gan": dict(depth=1, filters=4, d_filters=4),
        "cvae": dict(latent_dim=8, filters=4), "cvae_patch": dict(latent_dim=8, filters=4),
        "dcgan": dict(filters=8, latent_dim=8, z_steps=2),
        "context_encoder": dict(filters=4, bottleneck=8, d_filters=4),
        "ffc": dict(filters=4, blocks=1, d_filters=4)}


def test_every_method_fills_free_form_holes_or_refuses_them(test_cars):
    """The lists COMPACT_ONLY_METHODS / FREEFORM_METHODS (in the config checks and messages; read
    from each method's registration) are what the methods do: the free-form ones fill stroke
    masks keeping every known pixel; the patch ones refuse them with NOT_COMPACT (nothing is
    resampled into the patch) and still fill a square."""
    assert set(COMPACT_ONLY_METHODS) | set(FREEFORM_METHODS) == set(models.METHODS)
    assert not set(COMPACT_ONLY_METHODS) & set(FREEFORM_METHODS)
    images = tf.constant(test_cars[:4], tf.float32) / 255.0
    strokes = freeform_masks(4, 32, 32, tf.constant([0, 9]), "strokes", (0.2, 0.3))
    square = tf.constant(evaluate.protocol_masks(4, 32, 32, 16))
    for method in sorted(models.METHODS):
        model = models.build(method, 16, image_size=32, seed=0,
                             **{k: v for k, v in TINY[method].items()
                                if k in {f for f in models.get(method).settings.__dataclass_fields__}})
        # The sampling capability declared at registration is what the model does.
        assert models.get(method).sampler == hasattr(model, "sample"), method
        if method in COMPACT_ONLY_METHODS:
            with pytest.raises(tf.errors.InvalidArgumentError) as e:
                model({"image": images, "mask": strokes})
            assert evaluate.refused(e.value) == NOT_COMPACT, method
            masks = square
        else:
            masks = strokes
        out = model({"image": images, "mask": masks}).numpy()
        known = np.broadcast_to(masks.numpy() > 0.5, out.shape)
        np.testing.assert_array_equal(out[known], images.numpy()[known], err_msg=method)


def test_protocol_pngs_are_the_seeded_masks_in_their_bands():
    """benchmarks/freeform_masks/<band>/NNNN.png: 1000 tiny PNGs per band, white = hole, read
    as --mask_files reads masks, equal to freeform_protocol_masks (so anyone can remake them
    with benchmarks/make_freeform_masks.py), every area inside its band."""
    for holes, ((low, high), folder, _) in evaluate.FREEFORM.items():
        paths = sorted(glob.glob(os.path.join(evaluate.MASK_DIR, folder, "*.png")))
        assert [os.path.basename(p) for p in paths] == [f"{i:04d}.png" for i in range(1000)]
        assert max(os.path.getsize(p) for p in paths) < 600
        pixels = tf.io.decode_png(open(paths[0], "rb").read()).numpy()
        assert pixels.shape == (32, 32, 1) and set(np.unique(pixels)) == {0, 255}
        files = evaluate.read_protocol_masks(holes, 1000, 32, 32)
        area = hole_area(files)
        assert ((area >= low) & (area <= high)).all(), holes
        np.testing.assert_array_equal(files[:250],
                                      evaluate.freeform_protocol_masks(holes, 250, 32, 32))
        np.testing.assert_array_equal(evaluate.eval_masks(holes, 20, 32, 32, 12), files[:20])
        # Another size: made afresh by the same code, in the band too.
        other = evaluate.eval_masks(holes, 8, 48, 48, 12)
        assert other.shape == (8, 48, 48, 1)
        assert ((hole_area(other) >= low) & (hole_area(other) <= high)).all()


def test_free_form_protocol_scores_and_refuses_by_the_same_code(test_cars):
    images = test_cars[:40]
    conv = models.build("conv", 12, seed=0, depth=1, filters=4)
    patch = models.build("ae_patch", 12, seed=0, filters=4)
    fills = {name: (lambda x, m, model=model: model({"image": x, "mask": m}))
             for name, model in (("conv", conv), ("ae_patch", patch))}
    rows = {r["method"]: r for r in evaluate.evaluate(fills, images, 12, classical=("mean",),
                                                      holes="freeform_30_40")}
    assert rows["ae_patch"]["refused"] == NOT_COMPACT and rows["ae_patch"]["hole_psnr"] is None
    for name in ("conv", "mean"):
        assert all(rows[name][k] is not None for k in ("hole_psnr", "psnr", "ssim", "hole_l1",
                                                       "swd")), name
    masks = evaluate.eval_masks("freeform_30_40", 40, 32, 32, 12)
    expected = evaluate.score(images, evaluate.model_fill(fills["conv"], images, masks), masks)
    for k in ("hole_psnr", "psnr", "ssim", "hole_l1", "swd"):
        np.testing.assert_allclose(rows["conv"][k], expected[k], rtol=1e-5, err_msg=k)
    table = evaluate.format_table(list(rows.values()))
    assert "ae_patch: refused" in table
    # The square protocol is unchanged by the new argument.
    untimed = lambda rows: [{k: v for k, v in r.items() if k != "ms_per_image"}  # noqa: E731
                            for r in rows]
    assert untimed(evaluate.evaluate({}, images, 12, classical=("mean",))) == untimed(
        evaluate.evaluate({}, images, 12, classical=("mean",), holes="random"))


def test_mask_files_and_inpaint_take_the_same_free_form_masks(tmp_path, test_cars, exported):
    """The protocol PNGs are a --mask_files bank (free-form methods train on it, patch methods
    refuse it up front), and --mode=inpaint fills an image with one of them; a patch method's
    export refuses it with the clear message."""
    from tfinpaint.data.masks import MaskError
    from tfinpaint.inpaint import inpaint_paths

    folder = os.path.join(evaluate.MASK_DIR, "10-20")
    pattern = os.path.join(folder, "000*.png")
    bank = load_masks(pattern, 32)
    np.testing.assert_array_equal(bank, evaluate.read_protocol_masks("freeform_10_20", 10, 32, 32))
    cfg = config.make("conv", mask_files=pattern)
    cfg.image_size = 32
    assert build.masks(cfg).shape == (10, 32, 32, 1)
    patch_cfg = config.make("ae_patch", mask_files=pattern)
    patch_cfg.image_size = 32
    with pytest.raises(ConfigError, match="not one compact hole.*ae_patch is a patch method"):
        build.masks(patch_cfg)
    image = tmp_path / "car.png"
    image.write_bytes(tf.io.encode_png(test_cars[0]).numpy())
    mask = os.path.join(folder, "0000.png")
    (_, out), = inpaint_paths(exported[1], str(image), str(tmp_path / "filled.png"), mask=mask)
    filled = tf.io.decode_png(open(out, "rb").read()).numpy()
    known = read_mask(mask)[..., 0] > 0.5
    np.testing.assert_array_equal(filled[known], test_cars[0][known])
    patch = export.export(models.build("ae_patch", 12, seed=0, filters=4),
                          str(tmp_path / "ae_patch"))
    with pytest.raises((MaskError, tf.errors.InvalidArgumentError), match="patch method"):
        list(inpaint_paths(patch, str(image), str(tmp_path / "no.png"), mask=mask))
    assert not (tmp_path / "no.png").exists()
