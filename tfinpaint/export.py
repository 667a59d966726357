"""SavedModel export in TF Serving's layout: `<base>/<integer version>/saved_model.pb`.

Signature `serving_default`: `image` float32 [N, H, W, 3] in [0, 1] and `mask` float32
[N, H, W, 1] (1 known, 0 hole) -> `inpainted`, the composited image (known pixels unchanged).
Methods that sample (CVAE) add `sample`: also `samples` and `seed` (int32 scalars) ->
`inpainted` [N, samples, H, W, 3], the same for the same seed.
A version is written to a hidden temporary folder next to the others and renamed into place, so a
crash never leaves a half-written version that TF Serving would try to load.
"""
import os
import shutil
import tempfile

import keras
import tensorflow as tf


def versions(base_dir):
    """The integer version folders under `base_dir`, sorted."""
    if not os.path.isdir(base_dir):
        return []
    return sorted(int(d) for d in os.listdir(base_dir)
                  if d.isdigit() and os.path.isdir(os.path.join(base_dir, d)))


def latest(path):
    """`path` itself if it is a SavedModel, else its highest version folder."""
    if os.path.exists(os.path.join(path, "saved_model.pb")):
        return path
    found = versions(path)
    if not found:
        raise FileNotFoundError(f"{path!r} holds no SavedModel and no version folders (1, 2, ...).")
    return os.path.join(path, str(found[-1]))


def serving_fn(model):
    def serve(image, mask):
        check = tf.debugging.assert_equal(
            tf.shape(image)[:3], tf.shape(mask)[:3],
            message="mask must match the image in batch size, height and width")
        with tf.control_dependencies([check]):
            image, mask = tf.identity(image), tf.identity(mask)
        return {"inpainted": model({"image": image, "mask": mask}, training=False)}
    return serve


def export(model, base_dir, image_size=None, version=None, extra_files=None):
    """Writes `model` as version `version` (default: the next one) under `base_dir`; returns the
    version folder. `image_size` fixes H and W in the signature (None: any size). `extra_files`
    ({name: text}) go to `assets.extra/` (which TF Serving ignores) before the version appears."""
    os.makedirs(base_dir, exist_ok=True)
    version = version or (versions(base_dir) or [0])[-1] + 1
    final = os.path.join(base_dir, str(version))
    if os.path.exists(final):
        raise FileExistsError(f"{final!r} exists; versions are never overwritten.")
    size = image_size or None
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serving_default", serving_fn(model),
        input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32, name="image"),
                         tf.TensorSpec([None, size, size, 1], tf.float32, name="mask")])
    if hasattr(model, "sample"):  # methods that draw several fills: a seeded sampler
        archive.add_endpoint(
            "sample", lambda image, mask, samples, seed: {
                "inpainted": model.sample(image, mask, samples, tf.stack([seed, 0]))},
            input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32, name="image"),
                             tf.TensorSpec([None, size, size, 1], tf.float32, name="mask"),
                             tf.TensorSpec([], tf.int32, name="samples"),
                             tf.TensorSpec([], tf.int32, name="seed")])
    tmp = tempfile.mkdtemp(dir=base_dir, prefix=f".tmp-{version}-")
    try:
        archive.write_out(tmp, verbose=False)
        for name, text in (extra_files or {}).items():
            os.makedirs(os.path.join(tmp, "assets.extra"), exist_ok=True)
            with open(os.path.join(tmp, "assets.extra", name), "w") as f:
                f.write(text)
        os.rename(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
