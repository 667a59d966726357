"""Photographs: the photo hole families, random crops of photos of any size, the named photo
datasets, and the photo protocol on a handful of real photos (classical methods and an export)."""
import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from helpers import ROOT
from tfinpaint import export, models
from tfinpaint import photo_protocol as pp
from tfinpaint.data import load_dataset, read_image, train_pipeline
from tfinpaint.data.photo_holes import FAMILIES, MAX_AREA, photo_masks
from tfinpaint.data.sources import DatasetUnavailable, photo_crop


def hole_area(masks):
    return (np.asarray(masks)[..., 0] < 0.5).mean(axis=(1, 2))


@pytest.mark.parametrize("family", list(FAMILIES) + ["photo"])
def test_photo_masks_are_seeded_binary_and_reproducible(family):
    key = tf.constant([5, 7], tf.int64)
    a = photo_masks(6, 96, 128, key, family).numpy()
    assert a.shape == (6, 96, 128, 1) and set(np.unique(a)) <= {0.0, 1.0}
    np.testing.assert_array_equal(a, photo_masks(6, 96, 128, key, family).numpy())
    assert not np.array_equal(a, photo_masks(6, 96, 128, tf.constant([5, 8], tf.int64),
                                             family).numpy())
    assert (hole_area(a) > 0).all()


def test_families_widen_from_thin_to_thick_and_scale_with_the_photo():
    """Mean stroke width (hole pixels per pixel of hole boundary) grows thin < medium < thick,
    and a mask family's hole share is about the same at 256 and 512 pixels (sizes scale)."""
    def width(masks):
        hole = np.asarray(masks)[..., 0] < 0.5
        edge = hole & ~(np.roll(hole, 1, 1) & np.roll(hole, -1, 1) & np.roll(hole, 1, 2)
                        & np.roll(hole, -1, 2))
        return hole.sum() / max(edge.sum(), 1)

    key = tf.constant([1, 1], tf.int64)
    widths = [width(photo_masks(32, 256, 256, key, f)) for f in FAMILIES]
    assert widths[0] < widths[1] < widths[2], widths
    for f in FAMILIES:
        small = hole_area(photo_masks(64, 128, 128, key, f)).mean()
        big = hole_area(photo_masks(64, 256, 256, key, f)).mean()
        assert abs(small - big) < 0.06, (f, small, big)


def test_unknown_family_is_refused():
    with pytest.raises(ValueError, match="must be one of"):
        photo_masks(1, 32, 32, tf.constant([0, 0], tf.int64), "scribbles")


def test_photo_crop_is_keyed_and_multiscale():
    image = tf.constant(np.random.default_rng(0).integers(0, 255, (300, 500, 3), np.uint8))
    crop = photo_crop(64)
    a = crop(image, tf.constant([1, 2], tf.int64))
    assert a.shape == (64, 64, 3) and a.dtype == tf.uint8
    np.testing.assert_array_equal(a, crop(image, tf.constant([1, 2], tf.int64)))
    small = tf.constant(np.full((40, 30, 3), 9, np.uint8))  # smaller than the crop: enlarged
    assert crop(small, tf.constant([0, 0], tf.int64)).shape == (64, 64, 3)


def test_photos_dataset_trains_on_random_crops_resumably(data_dir):
    s = load_dataset("photos", data_dir, image_size=64)
    assert s.sizes["test"] == 200 and s.sizes["train"] + s.sizes["val"] == 2088
    assert s.crop is not None and next(iter(s.val)).shape == (64, 64, 3)
    train = s.train.take(24)
    a = [b.numpy() for b in train_pipeline(train, 8, seed=3, crop=s.crop).take(4)]
    assert a[0].shape == (8, 64, 64, 3)
    resumed = [b.numpy() for b in train_pipeline(train, 8, seed=3, crop=s.crop, skip=2).take(2)]
    np.testing.assert_array_equal(np.stack(a[2:]), np.stack(resumed))
    assert s.train_squares().element_spec.shape == (64, 64, 3)


def test_photo_datasets_missing_say_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(DatasetUnavailable, match="set --data_dir"):
        load_dataset("photos", str(tmp_path))
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    with pytest.raises(DatasetUnavailable, match="places365_small.*To fix"):
        load_dataset("places365_small", str(tmp_path))


def test_folder_expands_the_home_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    for i in range(4):
        tf.io.write_file(str(tmp_path / f"{i}.png"), tf.io.encode_png(np.zeros((20, 30, 3), np.uint8)))
    assert load_dataset("folder:~", image_size=16).sizes["test"] == 1


def test_protocol_masks_are_the_committed_pngs_and_within_their_ranges(data_dir, tmp_path,
                                                                       monkeypatch):
    """The PNG sets are what the maker makes (re-made in a scratch folder for three photos of
    each set), inside the documented area ranges; object masks come from segments of 5-30%."""
    for name in pp.SETS:
        paths = pp.photo_paths(data_dir, name)[:3]
        for family in pp.FAMILIES:
            committed = [m for m in pp.masks(data_dir, name, family, paths, write=False)]
            monkeypatch.setattr(pp, "MASK_DIR", str(tmp_path))
            fresh = pp.masks(data_dir, name, family, paths, write=False)
            monkeypatch.undo()
            for c, f, p in zip(committed, fresh, paths):
                np.testing.assert_array_equal(c, f)
                assert c.shape[:2] == read_image(p).shape[:2]
                area = 1 - c.mean()
                if family == "object":
                    assert 0.03 < area < 0.40, (p, area)
                else:
                    assert pp.MIN_AREA <= area <= MAX_AREA, (p, family, area)


def test_classical_fills_keep_known_pixels(data_dir):
    path = pp.photo_paths(data_dir, "bsds")[0]
    image = read_image(path)
    mask = pp.masks(data_dir, "bsds", "medium", [path])[0]
    for name in ("telea", "patchmatch"):
        out = pp.composite(image, mask, pp.classical(name)(image, mask))
        known = np.broadcast_to(mask > 0.5, image.shape)
        np.testing.assert_array_equal(out[known], image[known])
        assert np.abs(out.astype(int) - image).mean() > 0  # the hole changed


@pytest.fixture(scope="module")
def unet_export(tmp_path_factory):
    model = models.build("unet", 12, seed=0, filters=4)
    return export.export(model, str(tmp_path_factory.mktemp("photo_export") / "unet"))


def test_protocol_scores_an_export_one_photo_at_a_time(data_dir, unet_export):
    """Through the exported signature at each photo's own size (portrait and landscape), beside
    a classical method, every figure present and the composited outputs' known pixels intact."""
    kept = []
    fills = {"unet": pp.signature_fill(unet_export), "telea": pp.classical("telea")}
    rows = pp.run(fills, data_dir, ("bsds",), ("thick",), limit=3, log=lambda *a, **k: None,
                  save=lambda m, s, f, p, out: kept.append((m, p, out)))
    assert {r["method"] for r in rows} == {"unet", "telea"}
    for r in rows:
        assert r["images"] == 3 and all(r[k] is not None for k in ("hole_psnr", "psnr", "ssim",
                                                                    "hole_l1", "ms_per_image"))
    sizes = {out.shape[:2] for _, _, out in kept}
    assert len(sizes) >= 1
    for method, path, out in kept:
        image = read_image(path)
        mask = pp.masks(data_dir, "bsds", "thick", [path])[0]
        known = np.broadcast_to(mask > 0.5, image.shape)
        np.testing.assert_array_equal(out[known], image[known])


def test_protocol_command_writes_its_table_and_json(data_dir, unet_export, tmp_path):
    out = tmp_path / "photo.json"
    result = subprocess.run(
        [sys.executable, "benchmarks/photo_protocol.py", f"--data_dir={data_dir}",
         "--classical=ns", f"--models=unet={unet_export}", "--sets=kodak", "--families=thin",
         "--limit=2", f"--out={out}", f"--fills={tmp_path / 'fills'}",
         f"--grids={tmp_path / 'grid'}", "--grid_photos=kodim01"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "kodak (2 photos), thin holes" in result.stdout
    payload = json.loads(out.read_text())
    assert {r["method"] for r in payload["rows"]} == {"ns", "unet"}
    assert payload["command"].startswith("python benchmarks/photo_protocol.py")
    assert (tmp_path / "grid_thin.jpg").exists()
