"""The fixed evaluation protocol (DESIGN.md), for models and classical inpainting alike.

Holes: `numpy.random.default_rng(seed)` draws all N row offsets, then all N column offsets (or
centre holes). The model sees noise inside the hole (reading hole pixels gains nothing), outputs
are composited and rounded to uint8, and every method is scored by the same `tfinpaint.metrics`.
"""
import json
import time

import numpy as np
import tensorflow as tf

from tfinpaint import metrics
from tfinpaint.utils import atomic_write_text

CLASSICAL = ("mean", "telea", "ns", "biharmonic")


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


def score(images_u8, outputs, masks, batch=500):
    """Mean hole PSNR, full PSNR, SSIM and hole L1 of outputs (uint8 or float [0, 1])."""
    totals = {k: 0.0 for k in metrics.FUNCTIONS}
    for i in range(0, len(images_u8), batch):
        y = tf.constant(images_u8[i:i + batch], tf.float32) / 255.0
        o = outputs[i:i + batch]
        o = tf.constant(o, tf.float32) / (255.0 if o.dtype == np.uint8 else 1.0)
        m = tf.constant(masks[i:i + batch])
        for k, fn in metrics.FUNCTIONS.items():
            totals[k] += float(tf.reduce_sum(fn(y, o, m)))
    return {k: v / len(images_u8) for k, v in totals.items()}


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
    if name == "biharmonic":
        from skimage.restoration import inpaint_biharmonic

        out = inpaint_biharmonic(masked, hole, channel_axis=-1)
        return np.clip(out * 255 + 0.5, 0, 255).astype(np.uint8)
    raise ValueError(f"unknown classical method {name!r}")


def model_fill(fn, images_u8, masks, batch=250, seed=1):
    """Calls `fn(images, masks)` (float [0, 1] in, float out) with noise in the holes."""
    x = images_u8.astype(np.float32) / 255.0
    noise = np.random.default_rng(seed).random(x.shape, dtype=np.float32)
    x = x * masks + noise * (1 - masks)
    return np.concatenate([np.asarray(fn(tf.constant(x[i:i + batch]), tf.constant(masks[i:i + batch])))
                           for i in range(0, len(x), batch)])


def evaluate(fills, images_u8, hole, center=False, classical=CLASSICAL, seed=0):
    """Scores every `fills[name] = fn(images, masks)` and each classical method on the same holes.

    Returns rows {method, hole_psnr, psnr, ssim, hole_l1, ms_per_image}; a classical method whose
    library is missing is skipped with a note (install the `baselines` extra)."""
    n, h, w = images_u8.shape[:3]
    masks = protocol_masks(n, h, w, hole, center, seed)
    rows = []
    for name, fn in fills.items():
        model_fill(fn, images_u8[:8], masks[:8])  # warm-up (tracing) outside the timing
        start = time.perf_counter()
        outputs = model_fill(fn, images_u8, masks)
        rows.append({"method": name, **score(images_u8, outputs, masks),
                     "ms_per_image": 1000 * (time.perf_counter() - start) / n})
    for name in classical:
        try:
            start = time.perf_counter()
            outputs = np.stack([classical_fill(name, images_u8[i], masks[i, ..., 0] < 0.5)
                                for i in range(n)])
        except ImportError as e:
            print(f"skipping {name}: {e} (pip install 'tfinpaint[baselines]')")
            continue
        rows.append({"method": name, **score(images_u8, outputs, masks),
                     "ms_per_image": 1000 * (time.perf_counter() - start) / n})
    return rows


def format_table(rows, title=""):
    lines = [title] if title else []
    lines.append(f"{'method':12s} {'hole_psnr':>9s} {'psnr':>7s} {'ssim':>6s} {'hole_l1':>8s} "
                 f"{'ms/img':>7s}")
    for r in sorted(rows, key=lambda r: -r["hole_psnr"]):
        lines.append(f"{r['method']:12s} {r['hole_psnr']:9.2f} {r['psnr']:7.2f} {r['ssim']:6.3f} "
                     f"{r['hole_l1']:8.4f} {r['ms_per_image']:7.2f}")
    return "\n".join(lines)


def save_json(path, payload):
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")
