import hashlib

import numpy as np
import pytest
import tensorflow as tf

from tfinpaint.data import DatasetUnavailable, eval_pipeline, load_dataset, take_array, HoleMaker
from tfinpaint.data import train_pipeline


def digests(ds):
    return {hashlib.sha1(x.tobytes()).hexdigest() for x in take_array(ds)}


def test_cifar10_cars_from_data_dir(cars):
    assert cars.sizes == {"train": 4500, "val": 500, "test": 1000}
    assert cars.image_size == 32
    x = next(iter(cars.train.batch(4)))
    assert x.dtype == tf.uint8 and x.shape == (4, 32, 32, 3)


def test_splits_are_deterministic_and_disjoint(cars, data_dir):
    train, val, test = digests(cars.train), digests(cars.val), digests(cars.test)
    assert not train & val and not train & test and not val & test
    again = load_dataset("cifar10_cars", data_dir)
    assert digests(again.val) == val


def test_single_array_npz_is_split_and_resized(data_dir):
    faces = load_dataset("faces64", data_dir, image_size=32)
    assert faces.sizes == {"train": 7290, "val": 810, "test": 900}  # 9,000 faces: last 10% test
    assert next(iter(faces.test.batch(2))).shape == (2, 32, 32, 3)


def test_npz_path_with_key(tmp_path):
    path = tmp_path / "mine.npz"
    np.savez(path, pics=np.random.default_rng(0).integers(0, 255, (20, 16, 16, 3), np.uint8),
             other=np.zeros(3))
    s = load_dataset(f"npz:{path}:pics")
    assert s.sizes == {"train": 16, "val": 2, "test": 2} and s.image_size == 16
    with pytest.raises(DatasetUnavailable, match="no array 'nope'"):
        load_dataset(f"npz:{path}:nope")
    with pytest.raises(DatasetUnavailable, match="does not exist"):
        load_dataset(f"npz:{tmp_path}/missing.npz")


def test_folder_trains_on_crops_and_validates_on_resized_centres(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(10):
        image = rng.integers(0, 255, (40 + i, 60, 3), np.uint8)
        if i < 2:  # WebPs with alpha (lossy: a VP8X file, lossless: VP8L) are photos too
            translucent = np.dstack([image, np.full(image.shape[:2], 128, np.uint8)])
            Image.fromarray(translucent).save(tmp_path / f"{i:02d}.webp", "WEBP", lossless=i == 1)
        else:
            tf.io.write_file(str(tmp_path / f"{i:02d}.png"), tf.io.encode_png(image))
    (tmp_path / "notes.txt").write_text("not an image")
    s = load_dataset(f"folder:{tmp_path}", image_size=24)
    assert s.sizes == {"train": 8, "val": 1, "test": 1}
    assert take_array(s.train_squares()).shape == (8, 24, 24, 3)
    assert take_array(s.val).shape == (1, 24, 24, 3) and s.crop is not None


@pytest.mark.parametrize("spec,match", [
    ("imagenet_in_a_shoebox", "Unknown dataset"),
    ("folder:/no/such/folder", "does not exist"),
    ("tfds:no_such_dataset_xyz", "check the TFDS name"),
])
def test_unusable_datasets_say_what_to_do(spec, match):
    with pytest.raises(DatasetUnavailable, match=match):
        load_dataset(spec)


def test_named_dataset_missing_offline_names_the_fixes(tmp_path, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    with pytest.raises(DatasetUnavailable) as err:
        load_dataset("cifar10", data_dir=str(tmp_path))
    message = str(err.value)
    assert "cifar10" in message and "--data_dir" in message and "cifar10.npz" in message


def test_train_pipeline_batches_and_eval_holes_repeat(cars):
    batch = next(iter(train_pipeline(cars.train.take(256), 32, seed=0)))
    assert batch.shape == (32, 32, 32, 3) and batch.dtype == tf.float32
    assert 0.0 <= float(tf.reduce_min(batch)) and float(tf.reduce_max(batch)) <= 1.0
    val = eval_pipeline(cars.val.take(100), 50, HoleMaker(12))
    first = [m.numpy() for _, m in val]
    second = [m.numpy() for _, m in val]
    assert len(first) == 2
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("spec,size", [("tfds:cifar10", 32), ("cifar10_cars", 32),
                                       ("tfds:mnist/train", 28)])
def test_tfds_names_load_through_tfds(spec, size, tmp_path, monkeypatch):
    """The online path, with TFDS' own mock data standing in for the download."""
    import tensorflow_datasets as tfds

    from tfinpaint.data import sources

    monkeypatch.setattr(sources, "_prepared", lambda builder: True)
    with tfds.testing.mock_data(num_examples=24):
        s = load_dataset(spec, data_dir=str(tmp_path))
        batch = next(iter(s.train.batch(2)))
        assert s.image_size == size and batch.shape == (2, size, size, 3) and batch.dtype == tf.uint8
        assert all(n is not None and n > 0 for n in s.sizes.values())
