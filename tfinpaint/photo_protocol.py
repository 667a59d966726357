"""The photo protocol: natural photographs at their own size, four hole families, every method
scored one photo at a time by the same code as the cars protocol (`tfinpaint.metrics`,
`tfinpaint.realism`).

Sets (folders of the data directory): `bsds`, the 200 BSDS500 test photographs (photos/test,
481x321 or 321x481), and `kodak`, the 24 Kodak photographs (photos/kodak, 768x512 or 512x768).
Families:
- thin, medium, thick: LaMa's evaluation masks (`tfinpaint.data.photo_holes`), sized for each
  photo; photo i of a set gets the mask seeded [FAMILY_SEEDS[family], i], re-drawn (seed
  [family seed, 1000 * try + i]) while its hole covers more than half of the photo or under 1%.
- object: someone brushing over an object to remove it. BSDS500 photos: a region of the photo's
  own human segmentation (photos/test_segments) covering 5-30% of it, seeded choice among such
  regions (preferring regions that touch at most one side of the photo: objects rather than sky
  or ground; the region nearest that range if none is inside), dilated by 1% of the short side.
  Kodak has no segmentation: its object masks are BSDS500 test regions (the same rule) of a
  seeded segmentation map, resized to the Kodak photo: object-shaped, not aligned with what the
  Kodak photo shows.
The masks are written once as PNG sets, benchmarks/photo_masks/<set>/<family>/<photo>.png
(white = hole; `masks` writes a missing one and reads the rest), so other tools can be scored on
exactly these holes.

Every method sees the photo with uniform noise inside the hole (reading hole pixels gains
nothing); outputs are composited and rounded to uint8. Per set and family: hole PSNR, PSNR,
SSIM, hole L1 (per photo, then averaged), SWD (realism, over all photos of the set, portrait
photos turned to landscape so they stack) and ms per photo (wall time of the fill at the photo's
own size).
"""
import glob
import os
import time

import numpy as np
import tensorflow as tf

from tfinpaint import metrics, realism
from tfinpaint.data.masks import read_image, read_mask
from tfinpaint.evaluate import classical_fill, noisy_inputs
from tfinpaint.data.photo_holes import FAMILIES as STROKE_FAMILIES, MAX_AREA, photo_masks
from tfinpaint.utils import atomic_write_bytes

SETS = {"bsds": ("photos/test", "photos/test_segments"), "kodak": ("photos/kodak", None)}
FAMILIES = tuple(STROKE_FAMILIES) + ("object",)
FAMILY_SEEDS = {"thin": 2301, "medium": 2302, "thick": 2303, "object": 2304}
MIN_AREA = 0.01
OBJECT_AREA = (0.05, 0.30)
OBJECT_DILATION = 0.01  # of the short side
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MASK_DIR = os.path.join(ROOT, "benchmarks", "photo_masks")


def photo_paths(data_dir, name):
    folder = os.path.join(data_dir, SETS[name][0])
    paths = sorted(glob.glob(os.path.join(folder, "*.jpg")) + glob.glob(os.path.join(folder, "*.png")))
    if not paths:
        raise FileNotFoundError(f"no photos in {folder!r}: set --data_dir to the folder holding "
                                f"{SETS[name][0]}/.")
    return paths


def stem(path):
    return os.path.splitext(os.path.basename(path))[0]


def _area(hole):
    return float(np.mean(hole))


def stroke_hole(family, index, height, width):
    """bool [H, W] hole of a thin/medium/thick protocol mask for photo `index`."""
    seed = FAMILY_SEEDS[family]
    for attempt in range(100):
        key = tf.constant([seed, 1000 * attempt + index], tf.int64)
        hole = photo_masks(1, height, width, key, family).numpy()[0, ..., 0] < 0.5
        if MIN_AREA <= _area(hole) <= MAX_AREA:
            return hole
    raise RuntimeError(f"no {family} mask within {MIN_AREA}-{MAX_AREA} after 100 draws")


def _segment_hole(labels, rng):
    """bool hole: a seeded region of the label map covering OBJECT_AREA of it (or the nearest),
    among those touching at most one side of the photo if there are any (objects, rather than
    sky or ground)."""
    values, counts = np.unique(labels, return_counts=True)
    share = counts / labels.size
    low, high = OBJECT_AREA
    sides = sum(np.isin(values, np.unique(edge)).astype(int)
                for edge in (labels[0], labels[-1], labels[:, 0], labels[:, -1]))
    inside = np.flatnonzero((share >= low) & (share <= high) & (sides <= 1))
    if not len(inside):
        inside = np.flatnonzero((share >= low) & (share <= high))
    if len(inside):
        pick = values[inside[rng.integers(len(inside))]]
    else:
        pick = values[np.argmin(np.maximum(low - share, share - high))]
    return labels == pick


def _dilate(hole):
    import cv2

    r = max(1, int(round(OBJECT_DILATION * min(hole.shape))))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    return cv2.dilate(hole.astype(np.uint8), kernel) > 0


def object_hole(data_dir, name, index, path, height, width):
    """bool [H, W] object-removal hole for photo `index` of set `name` (see the module doc)."""
    rng = np.random.default_rng([FAMILY_SEEDS["object"], index, 0 if name == "bsds" else 1])
    segments = os.path.join(data_dir, SETS["bsds"][1])
    if name == "bsds":
        labels = read_labels(os.path.join(segments, stem(path) + ".png"))
    else:
        maps = sorted(glob.glob(os.path.join(segments, "*.png")))
        labels = read_labels(maps[rng.integers(len(maps))])
        if (labels.shape[0] > labels.shape[1]) != (height > width):
            labels = labels.T
        labels = tf.image.resize(labels[..., None], [height, width], "nearest").numpy()[..., 0]
    if labels.shape != (height, width):
        raise ValueError(f"segmentation of {path!r} is {labels.shape}, the photo {height}x{width}")
    return _dilate(_segment_hole(labels, rng))


def read_labels(path):
    return tf.io.decode_png(tf.io.read_file(path), channels=1, dtype=tf.uint8).numpy()[..., 0]


def mask_path(name, family, path):
    return os.path.join(MASK_DIR, name, family, stem(path) + ".png")


def masks(data_dir, name, family, paths=None, write=True):
    """float32 [H, W, 1] masks (1 known, 0 hole) for each photo of set `name` (or `paths`, a
    prefix of its photos): read from the PNG set, or made and (with `write`) written there."""
    out = []
    for index, path in enumerate(paths or photo_paths(data_dir, name)):
        target = mask_path(name, family, path)
        if os.path.exists(target):
            out.append(read_mask(target))
            continue
        height, width = read_image(path).shape[:2]
        hole = (object_hole(data_dir, name, index, path, height, width) if family == "object"
                else stroke_hole(family, index, height, width))
        if write:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            atomic_write_bytes(target, tf.io.encode_png(
                (hole[..., None] * 255).astype(np.uint8)).numpy())
        out.append((~hole)[..., None].astype(np.float32))
    return out


def composite(image, mask, output):
    """uint8 photo: known pixels from `image`, hole pixels from `output` (uint8 or [0, 1])."""
    if output.dtype != np.uint8:
        output = np.floor(np.clip(output, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return np.where(mask > 0.5, image, output)


def landscape(a):
    return a if a.shape[0] <= a.shape[1] else np.swapaxes(a, 0, 1)


def score(images, outputs, masks_):
    """Protocol figures of uint8 `outputs` against `images` (lists of [H, W, 3] of any sizes)."""
    totals = {k: 0.0 for k in metrics.FUNCTIONS}
    for image, output, mask in zip(images, outputs, masks_):
        y = tf.constant(image[None], tf.float32) / 255.0
        o = tf.constant(output[None], tf.float32) / 255.0
        for k, fn in metrics.FUNCTIONS.items():
            totals[k] += float(fn(y, o, tf.constant(mask[None]))[0])
    row = {k: v / len(images) for k, v in totals.items()}
    shapes = {landscape(i).shape for i in images}
    row["swd"] = None
    if len(shapes) == 1:  # one size once turned to landscape: SWD over the set
        stack = lambda xs: np.stack([landscape(x) for x in xs])  # noqa: E731
        row["swd"] = realism.Reference(stack(images), stack(masks_)).swd(stack(outputs))
    return row


def classical(name):
    """fill(image uint8, mask float [H, W, 1]) of a classical method (tfinpaint.evaluate)."""
    return lambda image, mask: classical_fill(name, image, mask[..., 0] < 0.5)


def signature_fill(export_dir, signature="serving_default"):
    """fill(image, mask) through an exported SavedModel's signature (image float32 [1, H, W, 3]
    in [0, 1] with noise in the hole, mask float32 [1, H, W, 1]; the first output), one photo at
    a time at its own size."""
    from tfinpaint.export import latest

    fn = tf.saved_model.load(latest(export_dir)).signatures[signature]
    names = list(fn.structured_input_signature[1])

    def fill(image, mask):
        x = noisy_inputs(image, mask, seed=1)
        args = {k: tf.constant((mask if "mask" in k else x)[None]) for k in names}
        out = fn(**args)
        out = out.get("inpainted", next(iter(out.values())))
        return out.numpy()[0]
    return fill


def pretrained_fill(name):
    """fill(image, mask) by a model shipped in the package (`tfinpaint.pretrained`), in float32,
    one photo at a time at its own size."""
    from tfinpaint import pretrained

    return model_fill(pretrained.load(name))


def model_fill(model):
    """fill(image, mask) by a Keras Inpainter (called on {"image", "mask"}), one photo at a time
    at its own size."""
    fn = tf.function(lambda x, m: model({"image": x, "mask": m}, training=False),
                     reduce_retracing=True)

    def fill(image, mask):
        x = noisy_inputs(image, mask, seed=1)
        return fn(tf.constant(x[None]), tf.constant(mask[None])).numpy()[0]
    return fill


def crop_fill(fill):
    """fill_fn(crop uint8, hole bool) -> uint8 for `tfinpaint.regions` from a protocol fill
    (image uint8, mask float [H, W, 1] with 1 = known) -> output."""
    def fill_crop(crop, hole):
        mask = (~hole)[..., None].astype(np.float32)
        return composite(crop, mask, np.asarray(fill(crop, mask)))
    return fill_crop


def region_fill(fill, working=None):
    """A protocol fill that fills each hole region in a crop round it at `working` px (longer
    side; `tfinpaint.regions`), as `tfinpaint fill` does, instead of the whole photo at once."""
    from tfinpaint import regions

    by_crop = regions.padded(crop_fill(fill), 8)

    def fill_regions(image, mask):
        return regions.fill(image, regions.hole_of(mask), by_crop,
                            working=working or regions.WORKING)
    return fill_regions


def upscale(image, factor):
    """uint8 photo enlarged `factor` times (bicubic, rounded): the high-resolution protocol."""
    h, w = image.shape[:2]
    big = tf.image.resize(image, [h * factor, w * factor], "bicubic")
    return np.clip(np.round(big.numpy()), 0, 255).astype(np.uint8)


def run(fills, data_dir, sets=tuple(SETS), families=FAMILIES, limit=None, save=None, log=print,
        scale=1):
    """Rows {set, family, method, images, hole_psnr, psnr, ssim, hole_l1, swd, ms_per_image}
    for every `fills[method] = fill(image uint8, mask) -> output` on every set and family.
    `limit`: the first N photos of each set. `save(method, set, family, path, output)`: called
    with each composited output (e.g. to keep them for grids). `scale` > 1: the photos enlarged
    that many times (bicubic) and the masks with them (each mask pixel a scale x scale block);
    the set is then named e.g. `kodak_x2`."""
    rows = []
    for set_name in sets:
        paths = photo_paths(data_dir, set_name)[:limit]
        images = [read_image(p) for p in paths]
        name = set_name if scale == 1 else f"{set_name}_x{scale}"
        if scale != 1:
            images = [upscale(i, scale) for i in images]
        for family in families:
            ms = masks(data_dir, set_name, family, paths)
            if scale != 1:
                ms = [np.repeat(np.repeat(m, scale, 0), scale, 1) for m in ms]
            for method, fill in fills.items():
                fill(images[0], ms[0])  # warm-up (tracing, loading) outside the timing
                outputs, seconds = [], 0.0
                for path, image, mask in zip(paths, images, ms):
                    start = time.perf_counter()
                    out = composite(image, mask, np.asarray(fill(image, mask)))
                    seconds += time.perf_counter() - start
                    outputs.append(out)
                    if save:
                        save(method, name, family, path, out)
                row = {"set": name, "family": family, "method": method, "images": len(images),
                       **score(images, outputs, ms), "ms_per_image": 1000 * seconds / len(images)}
                rows.append(row)
                log(f"{name:5s} {family:6s} {method:14s} hole PSNR {row['hole_psnr']:.2f}  "
                    f"SSIM {row['ssim']:.3f}  SWD {row['swd'] if row['swd'] is None else round(row['swd'], 1)}"
                    f"  {row['ms_per_image']:.0f} ms/photo", flush=True)
    return rows


def hole_areas(data_dir, sets=tuple(SETS), families=FAMILIES):
    """{set: {family: (min, mean, max) hole share}} of the protocol masks."""
    out = {}
    for name in sets:
        out[name] = {}
        for family in families:
            a = [1.0 - float(m.mean()) for m in masks(data_dir, name, family)]
            out[name][family] = (min(a), float(np.mean(a)), max(a))
    return out
