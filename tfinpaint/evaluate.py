"""The fixed evaluation protocol (docs/evaluation.md), for models and classical inpainting alike.

Holes: `numpy.random.default_rng(seed)` draws all N row offsets, then all N column offsets (or
centre holes). The free-form protocol (`FREEFORM`, --eval_holes=freeform_10_20|freeform_30_40)
scores the same images with fixed free-form masks (brush strokes and blotches, hole area 10-20%
or 30-40% of the image), read from the PNG set benchmarks/freeform_masks/<band>/NNNN.png (white
= hole) that benchmarks/make_freeform_masks.py writes with `freeform_protocol_masks`.

The model sees noise inside the hole (reading hole pixels gains nothing), outputs
are composited and rounded to uint8, and every method is scored by the same `tfinpaint.metrics`
and `tfinpaint.realism`: hole PSNR, full PSNR, SSIM, hole L1, `swd` (realism: sliced Wasserstein
distance x1e3 of Laplacian-pyramid patches inside the hole against the truth; lower is better)
and `diversity` (mean pairwise hole L1 between K draws of the same image; 0 for deterministic
methods and the classical ones).
"""
import glob
import json
import os
import time

import numpy as np
import tensorflow as tf

from tfinpaint import metrics, realism
from tfinpaint.constants import CLASSICAL, CLASSICAL_CHOICES, FREEFORM, HOLES  # noqa: F401
from tfinpaint.data.holes import NOT_COMPACT
from tfinpaint.utils import atomic_write_text

PATCHMATCH_RADIUS = 3  # pypatchmatch's patch_size: 7x7 patches
PATCHMATCH_SEED = 0
REAL = "real (2nd sample)"  # the noise-floor row: SWD of real images that are not the truth
DRAWS = 4  # draws per image for the diversity of methods that sample


def protocol_masks(n, height, width, hole, center=False, seed=0):
    """float32 [n, H, W, 1] masks (1 known, 0 hole), exactly as shared/check_export.py draws them."""
    if center:
        ys = np.full(n, (height - hole) // 2)
        xs = np.full(n, (width - hole) // 2)
    else:
        rng = np.random.default_rng(seed)
        ys = rng.integers(0, height - hole + 1, n)
        xs = rng.integers(0, width - hole + 1, n)
    masks = np.ones((n, height, width, 1), np.float32)
    for i in range(n):
        masks[i, ys[i]:ys[i] + hole, xs[i]:xs[i] + hole] = 0
    return masks


MASK_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "benchmarks", "freeform_masks")


def freeform_protocol_masks(holes, n, height, width, batch=250):
    """float32 [n, H, W, 1] free-form protocol masks of `holes` (a FREEFORM name), made by the
    TensorFlow hole maker: batch i is seeded [band seed, i]; an image whose area fell outside
    the band (under 1%) takes, in order, the next in-band mask of extra draws seeded
    [band seed, 10000 + j]. Deterministic: the PNG set is these masks at 32x32."""
    from tfinpaint.data.holes import freeform_masks

    (low, high), _, seed = FREEFORM[holes]

    def draw(key):
        m = freeform_masks(batch, height, width, tf.constant(key, tf.int64), "freeform",
                           (low, high)).numpy()
        area = (m[..., 0] < 0.5).mean(axis=(1, 2))
        return m, (area >= low) & (area <= high)

    out, ok = zip(*(draw([seed, i]) for i in range(-(-n // batch))))
    out, ok = np.concatenate(out)[:n], np.concatenate(ok)[:n]
    extra, j = [], 0
    while len(extra) < (~ok).sum():
        m, good = draw([seed, 10000 + j])
        extra.extend(m[good])
        j += 1
    out[~ok] = np.stack(extra[:(~ok).sum()]) if extra else out[~ok]
    return out


def mask_folder(holes):
    return os.path.join(MASK_DIR, FREEFORM[holes][1])


def read_protocol_masks(holes, n, height, width):
    """The PNG set of free-form protocol `holes` (white = hole), read as --mask_files and
    --mode=inpaint read masks, if it holds n masks of this size; None otherwise."""
    from tfinpaint.data.masks import read_mask

    paths = sorted(glob.glob(os.path.join(mask_folder(holes), "*.png")))[:n]
    if len(paths) < n:
        return None
    first = read_mask(paths[0])
    if first.shape[:2] != (height, width):
        return None
    return np.stack([first] + [read_mask(p, (height, width)) for p in paths[1:]])


def eval_masks(holes, n, height, width, hole, seed=0):
    """The protocol masks of --eval_holes=`holes`: squares of side `hole` at seeded random
    positions or centred, or a free-form set (the committed PNGs when they match n and the size,
    else the same masks made afresh by `freeform_protocol_masks`)."""
    if holes in FREEFORM:
        masks = read_protocol_masks(holes, n, height, width)
        return freeform_protocol_masks(holes, n, height, width) if masks is None else masks
    if holes not in ("random", "center"):
        raise ValueError(f"unknown protocol holes {holes!r}; choose from {HOLES}")
    return protocol_masks(n, height, width, hole, holes == "center", seed)


def describe(holes, hole):
    """The protocol's holes in words, for table titles."""
    if holes in FREEFORM:
        low, high = FREEFORM[holes][0]
        return f"free-form holes ({low:.0%}-{high:.0%} of the image; {holes})"
    return f"{hole}x{hole} {'centre' if holes == 'center' else 'random (seed 0)'} holes"


def refused(error):
    """The NOT_COMPACT message if a model refused the protocol's masks (a patch method given
    free-form holes), else None."""
    text = getattr(error, "message", str(error))
    return NOT_COMPACT if NOT_COMPACT[:60] in text else None


def score(images_u8, outputs, masks, batch=500, reference=None):
    """Mean hole PSNR, full PSNR, SSIM and hole L1 of outputs (uint8 or float [0, 1]), and their
    `swd` (realism: against the truth `images_u8` at the same holes; lower is better).
    `reference`: a `realism.Reference(images_u8, masks)` to reuse across methods."""
    totals = {k: 0.0 for k in metrics.FUNCTIONS}
    for i in range(0, len(images_u8), batch):
        y = tf.constant(images_u8[i:i + batch], tf.float32) / 255.0
        o = outputs[i:i + batch]
        o = tf.constant(o, tf.float32) / (255.0 if o.dtype == np.uint8 else 1.0)
        m = tf.constant(masks[i:i + batch])
        for k, fn in metrics.FUNCTIONS.items():
            totals[k] += float(tf.reduce_sum(fn(y, o, m)))
    out = {k: v / len(images_u8) for k, v in totals.items()}
    if reference is None:
        reference = realism.Reference(images_u8, masks)
    out["swd"] = reference.swd(np.asarray(outputs))
    return out


def real_floor(images_u8, real_u8, masks, reference=None):
    """The realism noise floor: the row of a second, disjoint sample of real images `real_u8`
    (whole images, not composited, at the same holes). Only its `swd` means something."""
    if len(real_u8) < len(images_u8):
        raise ValueError(f"the second real sample has {len(real_u8)} images, fewer than the "
                         f"{len(images_u8)} test images.")
    if reference is None:
        reference = realism.Reference(images_u8, masks)
    return {"method": REAL, "hole_psnr": None, "psnr": None, "ssim": None, "hole_l1": None,
            "swd": reference.swd(real_u8[:len(images_u8)]), "diversity": None,
            "ms_per_image": None}


def noisy_inputs(images_u8, masks, seed=1):
    """float [0, 1] images with uniform noise in the holes: what every model is given."""
    x = images_u8.astype(np.float32) / 255.0
    noise = np.random.default_rng(seed).random(x.shape, dtype=np.float32)
    return x * masks + noise * (1 - masks)


def sample_diversity(fn, images_u8, masks, draws=DRAWS, batch=250, seed=0):
    """realism.diversity of `fn(images, masks, draws, seed) -> [B, draws, H, W, 3]` (float [0, 1]
    images with noise in the holes, float masks; `seed` a Python int, the same for every batch)."""
    x = noisy_inputs(images_u8, masks)
    total = 0.0
    for i in range(0, len(x), batch):
        drawn = np.asarray(fn(tf.constant(x[i:i + batch]), tf.constant(masks[i:i + batch]), draws,
                              seed))
        if drawn.shape[:2] != (len(x[i:i + batch]), draws):
            raise ValueError(f"a sampler must return [B, {draws}, H, W, 3], got {drawn.shape}.")
        total += realism.diversity(drawn, masks[i:i + batch]) * len(drawn)
    return total / len(x)


def classical_fill(name, image, hole):
    """One uint8 image filled by a classical method; `hole` is a bool [H, W] array."""
    if name == "mean":
        out = image.copy()
        out[hole] = image[~hole].mean(axis=0).astype(np.uint8)
        return out
    masked = image.copy()
    masked[hole] = 0
    if name in ("telea", "ns"):
        import cv2

        flag = cv2.INPAINT_TELEA if name == "telea" else cv2.INPAINT_NS
        return cv2.inpaint(masked, hole.astype(np.uint8), 3, flag)
    if name == "patchmatch":
        import patchmatch

        if not patchmatch.patchmatch_available:
            raise ImportError("pypatchmatch's native library did not load")
        patchmatch.set_random_seed(PATCHMATCH_SEED)  # a global of the library: set per call
        return patchmatch.inpaint(masked, hole, patch_size=PATCHMATCH_RADIUS)
    if name == "biharmonic":
        from skimage.restoration import inpaint_biharmonic

        out = inpaint_biharmonic(masked, hole, channel_axis=-1)
        return np.clip(out * 255 + 0.5, 0, 255).astype(np.uint8)
    raise ValueError(f"unknown classical method {name!r}")


def model_fill(fn, images_u8, masks, batch=250, seed=1, progress=None):
    """Calls `fn(images, masks)` (float [0, 1] in, float out) with noise in the holes, `batch`
    images at a time; `progress` (a name): a line after each batch with what is done and left."""
    x = noisy_inputs(images_u8, masks, seed)
    start, outputs = time.perf_counter(), []
    for i in range(0, len(x), batch):
        outputs.append(np.asarray(fn(tf.constant(x[i:i + batch]), tf.constant(masks[i:i + batch]))))
        if progress:
            done, seconds = min(i + batch, len(x)), time.perf_counter() - start
            print(f"  {progress}: {done}/{len(x)} images filled in {seconds:.0f} s"
                  + (f", about {seconds / done * (len(x) - done):.0f} s left" if done < len(x)
                     else ""), flush=True)
    return np.concatenate(outputs)


SLOW_FILL_SECONDS = 30  # a fill expected to take longer reports its progress ...
PROGRESS_EVERY_SECONDS = 10  # ... about this often


def evaluate(fills, images_u8, hole, center=False, classical=CLASSICAL, seed=0, samplers=None,
             draws=DRAWS, diversity_images=None, real=None, holes=None):
    """Scores every `fills[name] = fn(images, masks)` and each classical method on the same holes.

    `holes`: the protocol (HOLES: random or center squares of side `hole`, or a FREEFORM set);
    None: random, or center with `center=True`. A model that refuses the masks (a patch method
    given free-form holes) gets a row of None figures with the reason under "refused".

    Returns rows {method, hole_psnr, psnr, ssim, hole_l1, swd, diversity, ms_per_image}; a
    classical method whose library is missing is skipped with a note (install the `baselines`
    extra). `samplers[name] = fn(images, masks, draws, seed) -> [B, draws, H, W, 3]` (float [0,
    1]; images with noise in the holes) gives the `diversity` of a method in `fills` that draws
    samples, over the first `diversity_images` test images (default all); every other row has
    diversity 0. `real` (uint8, a second, disjoint sample of at least as many real images, e.g.
    train images) adds the row REAL: the SWD of real images, the noise floor of `swd`."""
    n, h, w = images_u8.shape[:3]
    masks = eval_masks(holes or ("center" if center else "random"), n, h, w, hole, seed)
    samplers = dict(samplers or {})
    unknown = set(samplers) - set(fills)
    if unknown:
        raise ValueError(f"samplers {sorted(unknown)} have no fill in `fills` ({sorted(fills)}).")
    k = len(images_u8) if diversity_images is None else min(diversity_images, n)
    reference = realism.Reference(images_u8, masks)
    rows = []
    for name, fn in fills.items():
        try:
            warm = time.perf_counter()
            model_fill(fn, images_u8[:8], masks[:8])  # warm-up (tracing) outside the timing
            per_image = (time.perf_counter() - warm) / 8  # an overestimate: tracing included
        except (tf.errors.InvalidArgumentError, ValueError) as e:
            if not refused(e):
                raise
            rows.append({"method": name, "hole_psnr": None, "psnr": None, "ssim": None,
                         "hole_l1": None, "swd": None, "diversity": None, "ms_per_image": None,
                         "refused": refused(e)})
            continue
        slow = per_image * n > SLOW_FILL_SECONDS  # e.g. dcgan's latent search: say how far
        if slow:
            print(f"Filling {n} test images with {name} (about {per_image * n:.0f} s at most):",
                  flush=True)
        start = time.perf_counter()
        batches = dict(batch=max(1, int(PROGRESS_EVERY_SECONDS / per_image)), progress=name)
        outputs = model_fill(fn, images_u8, masks, **(batches if slow else {}))
        ms = 1000 * (time.perf_counter() - start) / n
        spread = (sample_diversity(samplers[name], images_u8[:k], masks[:k], draws)
                  if name in samplers else 0.0)
        rows.append({"method": name, **score(images_u8, outputs, masks, reference=reference),
                     "diversity": spread, "ms_per_image": ms})
    for name in classical:
        try:
            start = time.perf_counter()
            outputs = np.stack([classical_fill(name, images_u8[i], masks[i, ..., 0] < 0.5)
                                for i in range(n)])
        except ImportError as e:
            print(f"skipping {name}: {e} (pip install 'tfinpaint[baselines]')")
            continue
        ms = 1000 * (time.perf_counter() - start) / n
        rows.append({"method": name, **score(images_u8, outputs, masks, reference=reference),
                     "diversity": 0.0, "ms_per_image": ms})
    if real is not None:
        rows.append(real_floor(images_u8, real, masks, reference))
    return rows


COLUMNS = (  # key, header, width, format; a missing or None value (older JSON files) prints "-"
    ("hole_psnr", "hole_psnr", 9, ".2f"), ("psnr", "psnr", 7, ".2f"), ("ssim", "ssim", 6, ".3f"),
    ("hole_l1", "hole_l1", 8, ".4f"), ("swd", "swd(low)", 8, ".1f"),
    ("diversity", "diversity", 9, ".4f"), ("ms_per_image", "ms/img", 7, ".2f"))


def cell(row, key, fmt):
    value = row.get(key)
    return "-" if value is None else format(value, fmt)


def by_hole_psnr(rows):
    """Best hole PSNR first; rows without one (the real-sample floor) last."""
    return sorted(rows, key=lambda r: (r.get("hole_psnr") is None, -(r.get("hole_psnr") or 0.0)))


def format_table(rows, title=""):
    lines = [title] if title else []
    width = max([18] + [len(r["method"]) for r in rows])
    lines.append(f"{'method':{width}s} " + " ".join(f"{h:>{w}s}" for _, h, w, _ in COLUMNS))
    for r in by_hole_psnr(rows):
        lines.append(f"{r['method']:{width}s} " + " ".join(f"{cell(r, k, f):>{w}s}"
                                                           for k, _, w, f in COLUMNS))
    for r in rows:
        if r.get("refused"):
            lines.append(f"{r['method']}: refused: {r['refused']}")
    lines.append("swd(low): realism, sliced Wasserstein distance x1e3 of Laplacian-pyramid patches"
                 " in the hole\n  vs the truth's; lower is better: the truth scores 0, a second "
                 f"sample of real images\n  ({REAL!r}) the noise floor. diversity: mean pairwise "
                 "hole L1 between draws of the\n  same image, 0 for deterministic methods.")
    return "\n".join(lines)


def save_json(path, payload):
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")
