"""SavedModel export in TF Serving's layout (`<base>/<integer version>/saved_model.pb`), and
TFLite (LiteRT) export at a fixed input size.

Signature `serving_default`: `image` float32 [N, H, W, 3] in [0, 1] and `mask` float32
[N, H, W, 1] (1 known, 0 hole) -> `inpainted`, the composited image (known pixels unchanged).
PNG in, PNG out, for TF Serving's REST API (each -> `inpainted_bytes` string [N], a PNG whose
every known pixel is exactly as sent):
- `inpaint_mask_bytes`: `image_bytes` string [N] (PNG/JPEG/BMP/GIF/WebP, any size) and
  `mask_bytes` string [N] (PNG, grey >= 128 = hole, or alpha < 128 = hole; see
  tfinpaint.data.masks).
- `inpaint_hole_bytes`: `image_bytes` and `hole` int32 [N, 3] (x, y, size of a square hole).
- `inpaint_bytes` (the first signature, kept for existing clients): `image_bytes`, `mask_bytes`
  ("" = no mask, use `hole`) and `hole` (ignored when a mask is sent). TF Serving wants every
  input of a signature in each request, hence the two signatures above, each with only its own.
Fully convolutional models run at the image's own size; fixed-size models see the image
resampled to their size and only their hole pixels are resampled back. Bad bytes, a mask of
another size, an empty or inverted mask fail with an InvalidArgument error that names the input
and the problem.
Methods that sample (CVAE) add `sample`: also `samples` and `seed` (int32 scalars) ->
`inpainted` [N, samples, H, W, 3], the same for the same seed.
A version is written to a hidden temporary folder next to the others (`.tmp-<version>-<pid>-*`)
and renamed into place, so a crash never leaves a half-written version that TF Serving would try
to load; the next export removes folders left by exporters that were killed.

`export_tflite` writes `.tflite` flatbuffers (float32 and dynamic-range quantised) with the
`serving_default` signature at one fixed size; see its docstring.
"""
import os
import re
import shutil
import tempfile

import keras
import tensorflow as tf

from tfinpaint.data.masks import decode_tensor, hole_tensor, mask_tensor, rgb_tensor
from tfinpaint.metrics import to_uint8


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


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale_temporaries(base_dir):
    """Deletes `.tmp-<version>-<pid>-*` folders whose exporting process no longer runs (killed
    mid-export); those of live exporters are left alone. Returns the removed names."""
    removed = []
    for name in os.listdir(base_dir):
        parts = name.split("-")
        if (name.startswith(".tmp-") and len(parts) >= 4 and parts[2].isdigit()
                and not _alive(int(parts[2]))):
            shutil.rmtree(os.path.join(base_dir, name), ignore_errors=True)
            removed.append(name)
    return removed


def serving_fn(model):
    def serve(image, mask):
        check = tf.debugging.assert_equal(
            tf.shape(image)[:3], tf.shape(mask)[:3],
            message="mask must match the image in batch size, height and width")
        with tf.control_dependencies([check]):
            image, mask = tf.identity(image), tf.identity(mask)
        return {"inpainted": model({"image": image, "mask": mask}, training=False)}
    return serve


def fill_uint8(model, image, mask, size=None):
    """uint8 [H, W, 3] image + float [H, W, 1] mask -> uint8 filled image whose known pixels are
    the input's. `size`: the model takes only size x size images, so it sees a resampled copy
    (a pixel is known there only if everything it covers is) and its fill is resampled back."""
    x = tf.image.convert_image_dtype(image, tf.float32)[None]
    m = mask[None]
    if size:
        shape = tf.shape(x)[1:3]
        small = tf.image.resize(x, [size, size], antialias=True)
        small_mask = tf.cast(tf.image.resize(m, [size, size], "area") > 0.999, tf.float32)
        fill = tf.image.resize(model({"image": small, "mask": small_mask}, training=False), shape)
    else:
        fill = model({"image": x, "mask": m}, training=False)
    return tf.where(mask > 0.5, image, to_uint8(fill[0]))


def _png_filler(model):
    """(image bytes, mask function (h, w) -> [H, W, 1] mask) -> filled PNG bytes."""
    size = getattr(model, "fixed_size", None)

    def fill(data, mask_fn):
        with tf.name_scope("image_bytes"):
            image = rgb_tensor(decode_tensor(data, "image_bytes", channels=0))
        mask = mask_fn(tf.shape(image)[0], tf.shape(image)[1])
        return tf.io.encode_png(fill_uint8(model, image, mask, size))
    return fill


def _mask_from_bytes(mask_data):
    def mask_fn(h, w):
        with tf.name_scope("mask_bytes"):
            return mask_tensor(decode_tensor(mask_data, "mask_bytes"), "mask_bytes", h, w)
    return mask_fn


def _mask_from_hole(hole):
    return lambda h, w: hole_tensor(h, w, hole[0], hole[1], hole[2])


def _per_image(fn, inputs, names):
    """Maps `fn` over the batch after checking every input has one entry per image."""
    n = tf.shape(inputs[0])[0]
    check = tf.debugging.assert_equal(
        [tf.shape(x)[0] for x in inputs[1:]], [n] * (len(inputs) - 1),
        message=f"{', '.join(names)} must have one entry per image")
    with tf.control_dependencies([check]):
        return {"inpainted_bytes": tf.map_fn(fn, tuple(inputs), fn_output_signature=tf.string)}


# The PNG/JPEG signatures and their inputs, in order: one "image_bytes" per image, with a mask
# PNG ("mask_bytes"), a square hole ("hole"), or both (the mask when not "", else the hole; kept
# for old clients).
BYTES_SIGNATURES = {"inpaint_bytes": ("image_bytes", "mask_bytes", "hole"),
                    "inpaint_mask_bytes": ("image_bytes", "mask_bytes"),
                    "inpaint_hole_bytes": ("image_bytes", "hole")}


def bytes_fn(model, names):
    """A bytes signature's function over the inputs `names` (a BYTES_SIGNATURES value)."""
    fill = _png_filler(model)

    def one(args):
        given = dict(zip(names, args))
        with_mask = _mask_from_bytes(given["mask_bytes"]) if "mask_bytes" in given else None
        with_hole = _mask_from_hole(given["hole"]) if "hole" in given else None
        if with_mask and with_hole:
            mask_fn = lambda h, w: tf.cond(tf.strings.length(given["mask_bytes"]) > 0,  # noqa: E731
                                           lambda: with_mask(h, w), lambda: with_hole(h, w))
        else:
            mask_fn = with_mask or with_hole
        return fill(given["image_bytes"], mask_fn)

    def serve(*inputs):
        return _per_image(one, list(inputs), list(names))
    return serve


def export(model, base_dir, image_size=None, version=None, extra_files=None):
    """Writes `model` as version `version` (default: the next one) under `base_dir`; returns the
    version folder. `image_size` fixes H and W in the signature (None: any size). `extra_files`
    ({name: text}) go to `assets.extra/` (which TF Serving ignores) before the version appears."""
    os.makedirs(base_dir, exist_ok=True)
    remove_stale_temporaries(base_dir)
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
    specs = {"image_bytes": tf.TensorSpec([None], tf.string, name="image_bytes"),
             "mask_bytes": tf.TensorSpec([None], tf.string, name="mask_bytes"),
             "hole": tf.TensorSpec([None, 3], tf.int32, name="hole")}
    for name, inputs in BYTES_SIGNATURES.items():
        archive.add_endpoint(name, bytes_fn(model, inputs),
                             input_signature=[specs[i] for i in inputs])
    if hasattr(model, "sample"):  # methods that draw several fills: a seeded sampler
        archive.add_endpoint(
            "sample", lambda image, mask, samples, seed: {
                "inpainted": model.sample(image, mask, samples, tf.stack([seed, 0]))},
            input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32, name="image"),
                             tf.TensorSpec([None, size, size, 1], tf.float32, name="mask"),
                             tf.TensorSpec([], tf.int32, name="samples"),
                             tf.TensorSpec([], tf.int32, name="seed")])
    tmp = tempfile.mkdtemp(dir=base_dir, prefix=f".tmp-{version}-{os.getpid()}-")
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


# --- TFLite (LiteRT) ------------------------------------------------------------------------

TFLITE_VARIANTS = ("float32", "dynamic_range")


def tflite_unsupported():
    """{method name: why its TFLite conversion fails} (added to the converter's error), as each
    method declares where it is registered (`tflite=`). Also the module attribute
    TFLITE_UNSUPPORTED."""
    from tfinpaint.models import registry

    return {m.name: m.tflite for m in registry.registered() if m.tflite}


def __getattr__(name):
    if name == "TFLITE_UNSUPPORTED":  # read from the registry when asked for
        return tflite_unsupported()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class TFLiteExportError(ValueError):
    """The model cannot be converted to TFLite with built-in ops only; the message says why."""


def export_tflite(model, base_dir, image_size=None, variants=TFLITE_VARIANTS, name=None,
                  batch_size=1):
    """Writes `model` as TFLite (LiteRT) flatbuffers at one fixed input size; returns
    {variant: path of the .tflite file}.

    Args:
      model: a tfinpaint model (`tfinpaint.models.build(...)`, trained or restored).
      base_dir: folder for the files (made if missing), e.g. `<export_dir>/<method>`. Files are
        `<base_dir>/<name>_<S>x<S>_<variant>.tflite`, written under a temporary name and
        renamed, so a crash never leaves half a file; an existing file of the same name is
        replaced.
      image_size: the side S of the square input. Required for fully convolutional models
        (conv, ae, ae_patch, gan: TFLite needs static shapes); fixed-size models (cvae,
        cvae_patch, context_encoder) take only their own `model.fixed_size`, the default.
      variants: any of "float32" (the same weights; matches the SavedModel to float rounding)
        and "dynamic_range" (weights stored as int8 and dequantised on the fly; about 4x
        smaller, no calibration data needed).
      name: file name prefix (default `model.name`, the method's name).
      batch_size: the fixed batch dimension N (default 1).

    Each file has one signature, `serving_default`, as the SavedModel's at a fixed shape:
    `image` float32 [N, S, S, 3] in [0, 1] and `mask` float32 [N, S, S, 1] (1 known, 0 hole) ->
    `inpainted` float32 [N, S, S, 3], composited (known pixels are the input's). PNG decoding and
    the bytes signatures stay in the SavedModel (TFLite has no image codecs); with the
    interpreter: `Interpreter(model_path=...).get_signature_runner()(image=..., mask=...)`.
    Only TFLite's built-in ops are used, so any LiteRT runtime runs the files without the Flex
    delegate. Raises TFLiteExportError, naming the ops, for a model that needs others: `dcgan`
    (see `tflite_unsupported`), and any model whose graph TFLite cannot express.
    """
    name = name or model.name
    unknown = set(variants) - set(TFLITE_VARIANTS)
    if unknown or not variants:
        raise ValueError(f"TFLite variants must be among {TFLITE_VARIANTS}, got {list(variants)}.")
    fixed = getattr(model, "fixed_size", None)
    size = image_size or fixed
    if not size:
        raise ValueError(f"{name} is fully convolutional: give image_size, the side of the square "
                         "images the TFLite model will take (TFLite needs a fixed input size).")
    if fixed and size != fixed:
        raise ValueError(f"{name} takes only {fixed}x{fixed} images; image_size={size} is not "
                         "possible (leave it out to use the model's own size).")
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serving_default", serving_fn(model),
        input_signature=[tf.TensorSpec([batch_size, size, size, 3], tf.float32, name="image"),
                         tf.TensorSpec([batch_size, size, size, 1], tf.float32, name="mask")])
    os.makedirs(base_dir, exist_ok=True)
    written = {}
    with tempfile.TemporaryDirectory(prefix=".tflite-saved-model-") as saved:
        archive.write_out(saved, verbose=False)
        for variant in variants:
            converter = tf.lite.TFLiteConverter.from_saved_model(
                saved, signature_keys=["serving_default"])
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
            if variant == "dynamic_range":
                converter.optimizations = [tf.lite.Optimize.DEFAULT]  # no representative data
            try:
                flatbuffer = converter.convert()
            except Exception as e:  # the converter's own ConverterError (class path varies)
                ops = re.search(r"TF Select ops: ([^\n]*)", str(e))
                why = tflite_unsupported().get(model.name, "")
                raise TFLiteExportError(
                    f"{name} cannot be converted to TFLite with built-in ops only"
                    + (f" (it needs {ops.group(1)})" if ops else f": {str(e)[-500:]}")
                    + (f": {why}" if why else ".")) from None
            path = os.path.join(base_dir, f"{name}_{size}x{size}_{variant}.tflite")
            tmp = f"{path}.tmp-{os.getpid()}"
            try:
                with open(tmp, "wb") as f:
                    f.write(flatbuffer)
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.remove(tmp)
            written[variant] = path
    return written


def tflite_interpreter(path, num_threads=None):
    """A LiteRT interpreter for a .tflite file: `ai_edge_litert`'s if installed, else TF's own
    `tf.lite.Interpreter` (deprecated in favour of LiteRT, still in TF 2.21)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import warnings

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")
            return tf.lite.Interpreter(model_path=path, num_threads=num_threads)
    return Interpreter(model_path=path, num_threads=num_threads)
