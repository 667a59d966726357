"""Where images come from: npz files in a data directory, TFDS names, npz paths and image folders.

Every source ends as a `Splits` of three `tf.data.Dataset`s of uint8 [S, S, 3] images. Splits are
deterministic (no shuffling before the split) and the test split is never trained on.
"""
import dataclasses
import glob
import os

import numpy as np
import tensorflow as tf

from tfinpaint.data.masks import IMAGE_SUFFIXES, decode_tensor, rgb_tensor
from tfinpaint.utils import UserError

DATA_DIR_ENV = "TFINPAINT_DATA_DIR"
# Named datasets: the npz file looked for in the data directory, and the TFDS fallback.
NAMED = {
    "cifar10_cars": dict(tfds="cifar10", label=1),
    "cifar10": dict(tfds="cifar10"),
    # CelebA aligned faces, centre 140x140 crop (the crop used for shared/data/faces64.npz).
    "faces64": dict(tfds="celeb_a", crop=(40, 20, 140, 140), size=64),
    # Places365-Standard at 256x256 (1.8M scenes): the standard training set for photo inpainting.
    "places365_small": dict(tfds="places365_small", size=256),
}
# Named folders of photographs in the data directory: train (its last val_fraction validates)
# and test folders, trained on random crops (`photo_crop`).
PHOTOS = {"photos": dict(train="photos/train", test="photos/test", size=256)}


class DatasetUnavailable(UserError):
    """A dataset could not be found or downloaded; the message says how to provide it."""


@dataclasses.dataclass
class Splits:
    name: str
    train: tf.data.Dataset
    val: tf.data.Dataset
    test: tf.data.Dataset
    sizes: dict  # {"train": n, "val": n, "test": n}
    image_size: int
    # Photos: `train` holds whole images of any size, and crop(image, key) cuts a random
    # image_size square of each when training (`train_pipeline(crop=...)`); None: `train` holds
    # image_size squares already.
    crop: object = None

    def train_squares(self):
        """The training images as image_size squares (centre crop and resize where `crop`)."""
        if self.crop is None:
            return self.train
        return self.train.map(lambda im: resize_square(im, self.image_size),
                              num_parallel_calls=tf.data.AUTOTUNE)


def resolve_data_dir(data_dir=None):
    return data_dir or os.environ.get(DATA_DIR_ENV) or None


def load_dataset(spec, data_dir=None, image_size=None, val_fraction=0.1):
    """Returns `Splits` for `spec`: a name in NAMED, `tfds:NAME[/SPLIT]`, `npz:PATH[:KEY]` or
    `folder:PATH`. Images are resized (centre crop, then area resize) to `image_size` if given."""
    data_dir = resolve_data_dir(data_dir)
    kind, _, rest = spec.partition(":")
    if kind == "npz" and rest:
        path, _, key = (rest, "", "") if os.path.exists(rest) or ":" not in rest else rest.rpartition(":")
        arrays = _npz_arrays(path, key or None)
    elif kind == "folder" and rest:
        return _folder_splits(spec, os.path.expanduser(rest), image_size or 128, val_fraction)
    elif spec in PHOTOS:
        named = PHOTOS[spec]
        root = data_dir or ""
        if not os.path.isdir(os.path.join(root, named["train"])):
            raise DatasetUnavailable(
                f"Dataset {spec!r} is the folders {named['train']}/ and {named['test']}/ of the "
                f"data directory, and {os.path.join(root, named['train'])!r} does not exist: set "
                f"--data_dir (or ${DATA_DIR_ENV}) to the folder holding them, or train on your "
                "own photos with --dataset=folder:PATH.")
        return _folder_splits(spec, os.path.join(root, named["train"]),
                              image_size or named["size"], val_fraction,
                              os.path.join(root, named["test"]))
    elif kind == "tfds" and rest:
        return _tfds_splits(spec, rest, dict(tfds=rest), image_size, val_fraction)
    elif spec in NAMED:
        local = os.path.join(data_dir, spec + ".npz") if data_dir else None
        if not (local and os.path.exists(local)):
            return _tfds_splits(spec, NAMED[spec]["tfds"], NAMED[spec], image_size,
                                val_fraction)
        arrays = _npz_arrays(local, None)
    else:
        raise DatasetUnavailable(
            f"Unknown dataset {spec!r}. Use one of {sorted({*NAMED, *PHOTOS})}, tfds:NAME[/SPLIT], "
            "npz:PATH[:KEY] or folder:PATH.")
    return _array_splits(spec, arrays, image_size, val_fraction)


def _npz_arrays(path, key):
    if not os.path.exists(path):
        raise DatasetUnavailable(f"npz file {path!r} does not exist.")
    try:
        with np.load(path, allow_pickle=False) as npz:
            if key:
                if key not in npz.files:
                    raise DatasetUnavailable(f"{path!r} has no array {key!r}; it has {npz.files}.")
                return {"x": npz[key]}
            if "x_train" in npz.files and "x_test" in npz.files:
                return {"x_train": npz["x_train"], "x_test": npz["x_test"]}
            if "x" in npz.files:
                return {"x": npz["x"]}
            images = [k for k in npz.files if npz[k].ndim == 4]
            if len(images) != 1:
                raise DatasetUnavailable(
                    f"{path!r}: say which array holds the images (npz:{path}:KEY); it has {npz.files}.")
            return {"x": npz[images[0]]}
    except (OSError, ValueError) as e:
        raise DatasetUnavailable(f"{path!r} is not a readable npz file: {e}") from None


def as_uint8_rgb(x, what="images"):
    """NHWC uint8 RGB from uint8/float arrays with 1, 3 or 4 channels, or a clear error."""
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4) or min(x.shape) == 0:
        raise DatasetUnavailable(f"{what} must be [N, H, W, 1|3|4] images, got shape {x.shape}.")
    if x.dtype != np.uint8:
        if not np.issubdtype(x.dtype, np.number) or not np.isfinite(x).all():
            raise DatasetUnavailable(f"{what} must be numeric and finite, got dtype {x.dtype}.")
        scale = 255.0 if x.max() <= 1.0 else 1.0
        x = np.clip(np.round(x * scale), 0, 255).astype(np.uint8)
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    return x[..., :3]


def _array_splits(name, arrays, image_size, val_fraction):
    if "x_train" in arrays:
        train, test = as_uint8_rgb(arrays["x_train"]), as_uint8_rgb(arrays["x_test"])
    else:  # one array: the last 10% is the test split
        x = as_uint8_rgb(arrays["x"])
        n_test = max(1, len(x) // 10)
        train, test = x[:-n_test], x[-n_test:]
    n_val = int(round(len(train) * val_fraction))
    if len(train) - n_val < 1:
        raise DatasetUnavailable(f"{name}: only {len(train)} training images, too few to split.")
    train, val = train[:len(train) - n_val], train[len(train) - n_val:]
    size = image_size or train.shape[1]
    ds = lambda a: tf.data.Dataset.from_tensor_slices(a).map(
        lambda im: resize_square(im, size), num_parallel_calls=tf.data.AUTOTUNE)
    return Splits(name, ds(train), ds(val), ds(test),
                  {"train": len(train), "val": len(val), "test": len(test)}, size)


def resize_square(image, size, crop=None):
    """uint8 [H, W, C] -> uint8 [size, size, 3]: optional crop (top, left, h, w), then the centre
    square, then an area resize. Images already at `size` pass through untouched."""
    image = image[..., :3] if image.shape[-1] != 1 else tf.image.grayscale_to_rgb(image)
    if crop is not None:
        image = tf.image.crop_to_bounding_box(image, *crop)
    shape = tf.shape(image)
    side = tf.minimum(shape[0], shape[1])
    image = tf.image.crop_to_bounding_box(image, (shape[0] - side) // 2, (shape[1] - side) // 2,
                                          side, side)
    if image.shape[0] == size and image.shape[1] == size:
        return image
    resized = tf.image.resize(image, [size, size], method="area")
    return tf.ensure_shape(tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8),
                           [size, size, 3])


def _image_files(folder, what="Image folder"):
    if not os.path.isdir(folder):
        raise DatasetUnavailable(f"{what} {folder!r} does not exist.")
    return sorted(f for f in glob.glob(os.path.join(folder, "**", "*"), recursive=True)
                  if f.lower().endswith(IMAGE_SUFFIXES))


def _decode(path):
    """A photo file -> uint8 [H, W, 3], through decode_tensor's checks (a WebP with alpha cannot
    be decoded straight to 3 channels, and an animated one must not be decoded at all)."""
    image = rgb_tensor(decode_tensor(tf.io.read_file(path), path))
    return tf.ensure_shape(image, [None, None, 3])


def photo_crop(size):
    """crop(image, key): a random `size` square of a uint8 image of any size, at a random scale
    (multi-scale: a square window of side uniform between `size` and the short side, cut at a
    random place and area-resized to `size`; photos smaller than `size` are enlarged). `key`:
    int [2], which determines the window."""
    def crop(image, key):
        shape = tf.shape(image)
        short = tf.minimum(shape[0], shape[1])
        u = tf.random.stateless_uniform([3], key)
        side = tf.minimum(short, size + tf.cast(u[0] * tf.cast(tf.maximum(short - size, 0) + 1,
                                                                  tf.float32), tf.int32))
        top = tf.cast(u[1] * tf.cast(shape[0] - side + 1, tf.float32), tf.int32)
        left = tf.cast(u[2] * tf.cast(shape[1] - side + 1, tf.float32), tf.int32)
        window = image[top:top + side, left:left + side]
        resized = tf.image.resize(window, [size, size], "bilinear", antialias=True)
        return tf.ensure_shape(tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8),
                               [size, size, 3])
    return crop


def _folder_splits(name, folder, image_size, val_fraction, test_folder=None):
    """Photos of any size: training on random crops (`Splits.crop`), validation and test on the
    centre square resized. Without `test_folder` the last 10% of the files are the test split."""
    files = _image_files(folder)
    test = _image_files(test_folder, "Test folder") if test_folder else []
    needed = 2 if test_folder else 3
    if len(files) < needed or (test_folder and not test):
        raise DatasetUnavailable(
            f"Image folder {folder!r} has {len(files)} PNG/JPEG/BMP/GIF/WebP images; at least "
            f"{needed} are needed (train, validation" + (")" if test_folder else " and test)")
            + (f", and {test_folder!r} none" if test_folder and not test else "") + ".")
    n_test = 0 if test_folder else max(1, len(files) // 10)
    n_val = max(1, int(round((len(files) - n_test) * val_fraction)))
    rest = files[:len(files) - n_test]
    parts = {"train": rest[:-n_val], "val": rest[-n_val:], "test": test or files[-n_test:]}
    ds = {k: tf.data.Dataset.from_tensor_slices(v) for k, v in parts.items()}
    square = lambda path: resize_square(_decode(path), image_size)  # noqa: E731
    return Splits(name, ds["train"].map(_decode, num_parallel_calls=tf.data.AUTOTUNE),
                  *(ds[k].map(square, num_parallel_calls=tf.data.AUTOTUNE) for k in ("val", "test")),
                  {k: len(v) for k, v in parts.items()}, image_size, crop=photo_crop(image_size))


def _prepared(builder):
    try:
        return tf.io.gfile.exists(os.path.join(builder.data_dir, "dataset_info.json"))
    except Exception:  # noqa: BLE001 (an unreadable cache counts as absent)
        return False


def _check_online(tfds_name, host="storage.googleapis.com", timeout=3.0):
    """Fails in seconds, instead of after minutes of download retries, when there is no network."""
    import socket

    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError as e:
        raise ConnectionError(f"no network (cannot reach {host}: {e}); TFDS needs to download "
                              f"{tfds_name!r} once") from None


def _tfds_splits(name, tfds_spec, opts, image_size, val_fraction):
    tfds_name, _, split = tfds_spec.partition("/")
    split = split or "train"
    pct = int(round(100 * (1 - val_fraction)))
    try:
        import tensorflow_datasets as tfds

        builder = tfds.builder(tfds_name)
        if not _prepared(builder):
            _check_online(tfds_name)
            builder.download_and_prepare()
        known = builder.info.splits  # empty when TFDS cannot tell before reading: try "test"
        test_split = next((s for s in ("test", "validation") if s in known and s != split),
                          None if known else "test")
        if test_split is None:
            raise DatasetUnavailable(f"TFDS dataset {tfds_name!r} has no test or validation split "
                                     "besides the training split; use npz: or folder: instead.")
        splits = {"train": f"{split}[:{pct}%]", "val": f"{split}[{pct}%:]", "test": test_split}
        ds = {k: builder.as_dataset(split=s, shuffle_files=False) for k, s in splits.items()}
        sizes = {k: known[s].num_examples if known else None for k, s in splits.items()}
    except DatasetUnavailable:
        raise
    except Exception as e:  # tfds raises many kinds (network, not found, checksum): one message
        hint = (f"set --data_dir (or ${DATA_DIR_ENV}) to a folder holding {name}.npz "
                "(uint8 NHWC arrays x_train and x_test, or one array x)") if name in NAMED else \
            "check the TFDS name (https://www.tensorflow.org/datasets/catalog)"
        raise DatasetUnavailable(
            f"Dataset {name!r} is not in the data directory and TFDS could not provide "
            f"{tfds_name!r} ({type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}). "
            f"To fix: {hint}; or run once with internet access so TFDS caches it; or pass "
            "--dataset=npz:PATH[:KEY] or --dataset=folder:PATH.") from None

    size = image_size or opts.get("size")
    label, crop = opts.get("label"), opts.get("crop")

    def prepare(d):
        if label is not None:
            d = d.filter(lambda ex: ex["label"] == label)
        first_shape = builder.info.features["image"].shape
        out = size or (first_shape[0] if first_shape[0] and first_shape[0] == first_shape[1] else 128)
        return d.map(lambda ex: resize_square(ex["image"], out, crop),
                     num_parallel_calls=tf.data.AUTOTUNE), out

    (train, out), (val, _), (test, _) = (prepare(ds[k]) for k in ("train", "val", "test"))
    if label is not None or None in sizes.values():  # count what the filter keeps (labels only)
        sizes = {k: _count(builder, splits[k], label) for k in splits}
    return Splits(name, train, val, test, sizes, out)


def _count(builder, split, label):
    import tensorflow_datasets as tfds

    d = builder.as_dataset(split=split, decoders={"image": tfds.decode.SkipDecoding()})
    if label is not None:
        d = d.filter(lambda ex: ex["label"] == label)
    return int(d.reduce(0, lambda n, _: n + 1))
