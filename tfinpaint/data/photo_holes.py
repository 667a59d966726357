"""Hole families for photographs: thin, medium and thick masks as LaMa evaluates with, in the graph.

LaMa (Suvorov et al. 2022) scores photo inpainting on three families of random masks, made by
its `configs/data_gen/random_{thin,medium,thick}_512.yaml` for 512-pixel images. Each mask is,
per image, either brush strokes (a number of strokes, each a polyline of 1-5 segments of random
direction, length and brush width) or, with the share LaMa's mixed generator gives boxes
(0.3 / 1.3), a few axis-aligned boxes. The sizes below are LaMa's at a 512-pixel short side and
scale with the image's short side (at 481x321 by 321/512); segment directions are uniform here
(LaMa draws them from four angles). Masks over half the image are re-drawn in the protocol sets
(LaMa's `max_tamper_area: 0.5`); training masks keep them.

`photo_masks` draws them with TensorFlow ops only (stateless: the seed determines them), so they
are made in a tf.data map or in `train_step` like the other hole kinds. Brushes are drawn by
stamping each segment's centre line with its brush radius and spreading the radius outwards one
pixel per step (alternate 3x3 square and cross max-pools: an octagonal brush), so the cost is
one max-pool per pixel of the widest radius, whatever the number of strokes.

Kind "photo" (training): per image one of the three families, at random.
"""
import math

import tensorflow as tf

from tfinpaint.constants import PHOTO_KINDS
from tfinpaint.distribute import STROKES, stream_key

REFERENCE_SIDE = 512  # the sizes below are LaMa's, for 512-pixel images
FAMILIES = {
    # strokes per image, segments per stroke, brush width (px), segment length (px),
    # share of images given boxes instead of strokes, boxes per image, box side (px), margin (px)
    "thin": dict(strokes=(4, 70), width=(5, 24), length=(10, 109), box_share=0.0),
    "medium": dict(strokes=(4, 10), width=(5, 104), length=(10, 209), box_share=0.3 / 1.3,
                   boxes=(1, 5), box_side=(30, 149), margin=0),
    "thick": dict(strokes=(1, 5), width=(5, 254), length=(10, 459), box_share=0.3 / 1.3,
                  boxes=(1, 4), box_side=(30, 299), margin=10),
}
SEGMENTS = (1, 5)
MAX_AREA = 0.5  # protocol masks with more hole than this are re-drawn (LaMa's max_tamper_area)
assert PHOTO_KINDS == (*FAMILIES, "photo"), "tfinpaint.constants.PHOTO_KINDS names the families"


def scale_of(height, width):
    return min(height, width) / REFERENCE_SIDE


def _uniform(shape, key, low, high, dtype=tf.float32):
    return tf.random.stateless_uniform(shape, key, low, high, dtype)


def _count(key, batch, low, high):
    """int32 [batch] uniform in [low, high] inclusive."""
    return _uniform([batch], key, low, high + 1, tf.int32)


def _grow(radius, steps):
    """Spreads int radii [B, H, W] (-1: nothing) outwards: after `steps` steps a pixel holds the
    largest radius minus the octagonal distance to where it was stamped (>= 0: covered)."""
    x = tf.cast(radius, tf.float32)[..., None]
    for step in range(steps):
        if step % 2 == 0:
            spread = tf.nn.max_pool2d(x, 3, 1, "SAME")
        else:  # a cross: the 4-neighbours
            p = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], constant_values=-1.0)
            spread = tf.reduce_max(tf.stack([p[:, 1:-1, 1:-1], p[:, :-2, 1:-1], p[:, 2:, 1:-1],
                                             p[:, 1:-1, :-2], p[:, 1:-1, 2:]]), axis=0)
        x = tf.maximum(x, spread - 1.0)
    return x[..., 0]


def _strokes(keys, batch, height, width, f, s):
    """bool [B, H, W]: the brush strokes of family `f` at scale `s`."""
    n_max, seg_max = f["strokes"][1], SEGMENTS[1]
    shape = [batch, n_max, seg_max]
    active = ((tf.range(n_max)[None, :, None] < _count(keys[0], batch, *f["strokes"])[:, None, None])
              & (tf.range(seg_max)[None, None, :]
                 < _uniform([batch, n_max, 1], keys[1], SEGMENTS[0], seg_max + 1, tf.int32)))
    angle = _uniform(shape, keys[2], 0.0, 2 * math.pi)
    length = _uniform(shape, keys[3], f["length"][0] * s, f["length"][1] * s)
    radius = tf.floor(_uniform(shape, keys[4], f["width"][0] * s, f["width"][1] * s) / 2)
    y0 = _uniform([batch, n_max, 1], keys[5], 0.0, height - 1.0)
    x0 = _uniform([batch, n_max, 1], keys[6], 0.0, width - 1.0)
    # Vertices: each segment starts where the last ended, clipped to the image (as LaMa's).
    dy, dx = length * tf.sin(angle), length * tf.cos(angle)

    def walk(start, steps, top):  # a clipped cumulative sum, one segment at a time
        points, p = [start], start
        for i in range(seg_max):
            p = tf.clip_by_value(p + steps[..., i:i + 1], 0.0, top)
            points.append(p)
        return tf.concat(points, -1)

    vy, vx = walk(y0, dy, height - 1.0), walk(x0, dx, width - 1.0)
    t = tf.linspace(0.0, 1.0, int(math.ceil(f["length"][1] * s)) + 2)  # <= 1 px apart
    py = vy[..., :-1, None] + t * (vy[..., 1:, None] - vy[..., :-1, None])  # [B, N, S, P]
    px = vx[..., :-1, None] + t * (vx[..., 1:, None] - vx[..., :-1, None])
    cells = ((tf.range(batch)[:, None, None, None] * height + tf.cast(tf.round(py), tf.int32))
             * width + tf.cast(tf.round(px), tf.int32))
    value = tf.where(active, radius, -1.0)[..., None] + tf.zeros_like(py)
    stamped = tf.math.unsorted_segment_max(tf.reshape(value, [-1]), tf.reshape(cells, [-1]),
                                           batch * height * width)
    stamped = tf.reshape(tf.maximum(stamped, -1.0), [batch, height, width])
    steps = int(math.floor(f["width"][1] * s / 2))
    return _grow(stamped, steps) >= 0.0


def _boxes(keys, batch, height, width, f, s):
    """bool [B, H, W]: the boxes of family `f` at scale `s` (LaMa's rectangle masks)."""
    margin = int(round(f["margin"] * s))
    low = max(1, int(round(f["box_side"][0] * s)))
    high = max(low, min(int(round(f["box_side"][1] * s)), height - 2 * margin, width - 2 * margin))
    n_max = f["boxes"][1]
    shape = [batch, n_max]
    on = tf.range(n_max)[None] < _count(keys[7], batch, *f["boxes"])[:, None]
    bh = _uniform(shape, keys[8], low, high + 1, tf.int32)
    bw = _uniform(shape, keys[9], low, high + 1, tf.int32)
    top = margin + tf.cast(_uniform(shape, keys[10], 0.0, 1.0) * tf.cast(
        height - 2 * margin - bh + 1, tf.float32), tf.int32)
    left = margin + tf.cast(_uniform(shape, keys[11], 0.0, 1.0) * tf.cast(
        width - 2 * margin - bw + 1, tf.float32), tf.int32)
    rows = tf.range(height)[None, None, :, None]
    cols = tf.range(width)[None, None, None, :]
    inside = ((rows >= top[..., None, None]) & (rows < (top + bh)[..., None, None])
              & (cols >= left[..., None, None]) & (cols < (left + bw)[..., None, None])
              & on[..., None, None])
    return tf.reduce_any(inside, axis=1)


def photo_masks(batch, height, width, seed, family="photo", scale=None):
    """float32 [batch, height, width, 1] masks (1 known, 0 hole) of `family` (thin, medium,
    thick, or photo: one of the three per image). `seed`: int [2], which determines them.
    `scale`: sizes relative to LaMa's 512-pixel ones (default: the short side / 512)."""
    if family not in PHOTO_KINDS:
        raise ValueError(f"photo hole family must be one of {PHOTO_KINDS}, got {family!r}")
    height, width = int(height), int(width)
    s = scale_of(height, width) if scale is None else float(scale)
    keys = tf.random.experimental.stateless_split(stream_key(seed, STROKES), 16)
    if family != "photo":
        return _family(keys, batch, height, width, FAMILIES[family], s)
    which = _uniform([batch], keys[15], 0, len(FAMILIES), tf.int32)
    out = tf.zeros([batch, height, width, 1])
    for i, f in enumerate(FAMILIES.values()):
        sub = tf.random.experimental.stateless_split(keys[12 + i % 3], 16)
        out += tf.where(tf.equal(which, i)[:, None, None, None],
                        _family(sub, batch, height, width, f, s), 0.0)
    return out


def _family(keys, batch, height, width, f, s):
    hole = _strokes(keys, batch, height, width, f, s)
    if f["box_share"]:
        boxes = _uniform([batch], keys[12], 0.0, 1.0) < f["box_share"]
        hole = tf.where(boxes[:, None, None], _boxes(keys, batch, height, width, f, s), hole)
    return 1.0 - tf.cast(hole, tf.float32)[..., None]
