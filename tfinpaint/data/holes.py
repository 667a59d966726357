"""Hole makers written only with TensorFlow ops, so they run in a `tf.data` map or in `train_step`.

Convention everywhere in tfinpaint: a mask (the thesis' "location map") is float32 [B, H, W, 1]
with 1 = known pixel and 0 = hole.

Kinds of holes (`KINDS`, `--holes_kind`):
- square: one hole_size x hole_size square per image (the thesis' holes, the square protocol).
- strokes: brush strokes, DeepFill v2-style random walks (4-8 vertices, a turn of up to
  +-70 degrees at each, segments of 1/16-1/4 of the image side) drawn with a round brush of a
  random width per stroke (radius 0.5, 1 or 1.5 px at 32x32, i.e. about 1-3 px wide; scaled
  with the image side).
- blotches: random ellipses and rotated boxes (semi-axes 1/16-1/5 of the side); several of
  them make unions of boxes and ellipses.
- freeform: strokes and blotches mixed in one mask (each element a stroke with probability 0.7).
- mixed: per image, a square (probability 1/3) or a freeform mask.
- thin, medium, thick, photo: the photo families of LaMa's evaluation masks, sized for the image
  (`tfinpaint.data.photo_holes`; photo: one of the three per image). Their areas are the
  families' own, not `area`.
Every non-square kind hits a target hole area: each image draws a target uniformly in
`area` = (low, high) (fractions of the image) and a number of candidate elements that
grows with `high` (`element_counts`); the mask
is the union of the first n elements, n chosen so the area is in [low, high] and nearest the
target (when even all elements stay below `low`, all of them).
"""
import math

import keras
import tensorflow as tf

from tfinpaint.constants import COMPACT_FILL, HOLE_KINDS
from tfinpaint.data.photo_holes import PHOTO_KINDS, photo_masks
from tfinpaint.distribute import HOLE_BANK, HOLE_COLUMN, HOLE_ROW, STROKES, stream_key

KINDS = HOLE_KINDS
AREA = (0.1, 0.4)  # default target hole area of the non-square kinds (fractions of the image)
VERTICES = (4, 8)  # vertices per stroke (3-7 segments)
TURN = 1.2  # radians: the most a stroke turns at a vertex
STROKE_LENGTH = (1 / 16, 1 / 4)  # segment length, as a share of the image side
BRUSH_RADII = (0.5, 1.0, 1.5)  # brush radii in pixels at a 32-pixel side (scaled with the side)
BLOTCH_AXES = (1 / 16, 1 / 5)  # blotch semi-axes, as a share of the image side
STROKE_SHARE = 0.7  # freeform: share of the elements that are strokes
SQUARE_SHARE = 1 / 3  # mixed: share of the images that get a square


# Which methods fill which holes is declared where each method is registered (`hole_shapes`,
# tfinpaint.models.registry). The method modules import this one, so the lists are read from the
# registry when first used: as functions, or as the module attributes COMPACT_ONLY_METHODS,
# FREEFORM_METHODS and NOT_COMPACT (see __getattr__), in registration order.
def compact_only_methods():
    """The patch methods: each fills one compact hole per image (and trains on squares)."""
    from tfinpaint.models import registry

    return registry.names(hole_shapes="compact")


def freeform_methods():
    """The methods that train on and fill holes of any shape."""
    from tfinpaint.models import registry

    return registry.names(hole_shapes="freeform")


def not_compact_message():
    """What a patch method says when a mask's hole is not one compact hole (`assert_compact`).
    Exported SavedModels hold it, and `tfinpaint.evaluate.refused` recognises it by its first
    60 characters: the patch methods' names and their order must stay."""
    return ("this model is a patch method (" + ", ".join(compact_only_methods()) + "): it fills one "
            f"compact hole per image, whose pixels fill at least {COMPACT_FILL:.0%} of its "
            "bounding box, and this mask's hole does not (free-form strokes, or several holes). "
            "Methods that fill free-form holes: " + ", ".join(freeform_methods()) + ".")


_FROM_REGISTRY = {"COMPACT_ONLY_METHODS": compact_only_methods,
                  "FREEFORM_METHODS": freeform_methods, "NOT_COMPACT": not_compact_message}


def __getattr__(name):
    """COMPACT_ONLY_METHODS, FREEFORM_METHODS (tuples of names) and NOT_COMPACT (a str), read from
    the registry when asked for (`from tfinpaint.data.holes import NOT_COMPACT` too)."""
    if name in _FROM_REGISTRY:
        return _FROM_REGISTRY[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def square_masks(batch, height, width, hole_size, seed, center=False):
    """[batch, height, width, 1] masks with one hole_size x hole_size hole each.

    Positions are uniform over every place the square fits (stateless, so `seed`, an int32/int64
    tensor of shape [2], fully determines them; rows and columns come from their own streams);
    `center=True` puts every hole in the middle.
    """
    if center:
        top = tf.fill([batch], (height - hole_size) // 2)
        left = tf.fill([batch], (width - hole_size) // 2)
    else:
        top = tf.random.stateless_uniform([batch], stream_key(seed, HOLE_ROW), 0,
                                          height - hole_size + 1, tf.int32)
        left = tf.random.stateless_uniform([batch], stream_key(seed, HOLE_COLUMN), 0,
                                           width - hole_size + 1, tf.int32)
    return box_masks(top, left, hole_size, hole_size, height, width)


def box_masks(top, left, box_h, box_w, height, width):
    """Masks with a box_h x box_w hole at per-image (top, left) offsets ([B] int tensors)."""
    rows = tf.range(height)[None, :]
    cols = tf.range(width)[None, :]
    in_rows = (rows >= top[:, None]) & (rows < top[:, None] + box_h)
    in_cols = (cols >= left[:, None]) & (cols < left[:, None] + box_w)
    hole = in_rows[:, :, None] & in_cols[:, None, :]
    return 1.0 - tf.cast(hole, tf.float32)[..., None]


def hole_bbox(masks):
    """Top, left, bottom, right (exclusive) of each mask's hole pixels; [B] int32 each."""
    hole = masks[..., 0] < 0.5
    rows = tf.reduce_any(hole, axis=2)
    cols = tf.reduce_any(hole, axis=1)

    def first_last(any_):
        n = tf.shape(any_)[1]
        first = tf.argmax(tf.cast(any_, tf.int32), axis=1, output_type=tf.int32)
        last = n - tf.argmax(tf.cast(any_[:, ::-1], tf.int32), axis=1, output_type=tf.int32)
        return first, last

    top, bottom = first_last(rows)
    left, right = first_last(cols)
    return top, left, bottom, right


def hole_fill_ratio(masks):
    """Each mask's hole pixels / its hole's bounding-box area ([B] float32; 1 with no hole)."""
    top, left, bottom, right = hole_bbox(masks)
    area = tf.reduce_sum(tf.cast(masks[..., 0] < 0.5, tf.float32), axis=[1, 2])
    box = tf.cast(tf.maximum((bottom - top) * (right - left), 1), tf.float32)
    return tf.where(area > 0, area / box, 1.0)


def assert_compact(masks):
    """An assertion (for control dependencies) that every mask holds one compact hole (see
    COMPACT_FILL) or none; it fails with NOT_COMPACT. Under XLA it is skipped."""
    ok = tf.reduce_all(hole_fill_ratio(masks) >= COMPACT_FILL)
    return tf.debugging.Assert(ok, [not_compact_message()])


def _stream(seed, n):
    """n independent int32 [2] keys of the free-form stream of `seed`."""
    return tf.random.experimental.stateless_split(stream_key(seed, STROKES), n)


def _uniform(shape, key, low=0.0, high=1.0, dtype=tf.float32):
    return tf.random.stateless_uniform(shape, key, low, high, dtype)


def _cell_min(cells, values, size, fill):
    """Per cell of a flat grid of `size` cells, the minimum of the `values` drawn on it
    (`fill` where none is)."""
    out = tf.math.unsorted_segment_min(values, cells, size)
    return tf.minimum(out, fill)  # empty cells hold the dtype's largest value


def _disc_min(grid, radius, fill):
    """Per pixel, the minimum of int `grid` [N, H, W] over a disc of `radius` pixels round it
    (outside the image counts as `fill`): stamps a round brush on every element's centre line.
    Separable by rows: minima over each row's run of the disc, then over the rows."""
    r = int(math.floor(radius + 1e-6))
    if r == 0:
        return grid
    h, w = tf.shape(grid)[1], tf.shape(grid)[2]
    padded = tf.pad(grid, [[0, 0], [r, r], [r, r]], constant_values=fill)
    runs = {dy: int(math.floor(math.sqrt(max(radius * radius - dy * dy, 0.0)) + 1e-6))
            for dy in range(-r, r + 1)}
    rows, run = {}, padded[:, :, r:r + w]  # run: minimum over columns x-k..x+k, k growing
    for k in range(max(runs.values()) + 1):
        if k:
            run = tf.minimum(run, tf.minimum(padded[:, :, r + k:r + k + w],
                                             padded[:, :, r - k:r - k + w]))
        rows[k] = run
    out = rows[runs[0]][:, r:r + h]
    for dy, k in runs.items():
        if dy:
            out = tf.minimum(out, rows[k][:, r + dy:r + dy + h])
    return out


def _strokes(keys, order, height, width, fill):
    """int32 [B, H, W]: per pixel the lowest `order` ([B, S] element numbers) of the strokes
    covering it (`fill` where none does)."""
    batch, count = order.shape[0] or tf.shape(order)[0], order.shape[1]
    side = min(height, width)
    v = VERTICES[1] - 1  # segments
    lo, hi = STROKE_LENGTH[0] * side, STROKE_LENGTH[1] * side
    shape = [batch, count]

    def uniform(i, shp, a, b, dtype=tf.float32):
        return _uniform(shp, keys[i], a, b, dtype)

    y0 = uniform(0, shape, 0.0, height - 1.0)
    x0 = uniform(1, shape, 0.0, width - 1.0)
    heading = uniform(2, shape, 0.0, 2 * math.pi)[..., None] + tf.cumsum(
        uniform(3, shape + [v], -TURN, TURN), axis=-1)
    segments = uniform(4, shape, VERTICES[0] - 1, v + 1, tf.int32)
    length = uniform(5, shape + [v], lo, hi) * tf.cast(tf.range(v) < segments[..., None],
                                                       tf.float32)
    vy = tf.clip_by_value(tf.concat([y0[..., None], y0[..., None] + tf.cumsum(
        length * tf.sin(heading), axis=-1)], -1), 0.0, height - 1.0)
    vx = tf.clip_by_value(tf.concat([x0[..., None], x0[..., None] + tf.cumsum(
        length * tf.cos(heading), axis=-1)], -1), 0.0, width - 1.0)
    # Points along each segment no more than a pixel apart: their pixels form its centre line.
    t = tf.linspace(0.0, 1.0, int(math.ceil(hi)) + 1)
    py = vy[..., :-1, None] + t * (vy[..., 1:, None] - vy[..., :-1, None])  # [B, S, V, P]
    px = vx[..., :-1, None] + t * (vx[..., 1:, None] - vx[..., :-1, None])
    radii = [r * side / 32.0 for r in BRUSH_RADII]
    brush = uniform(6, shape, 0, len(radii), tf.int32)
    cells = ((brush[..., None, None] * batch + tf.range(batch)[:, None, None, None]) * height
             + tf.cast(tf.round(py), tf.int32)) * width + tf.cast(tf.round(px), tf.int32)
    value = tf.broadcast_to(order[..., None, None], tf.shape(cells))
    grid = tf.reshape(_cell_min(tf.reshape(cells, [-1]), tf.reshape(value, [-1]),
                                len(radii) * batch * height * width, fill),
                      [len(radii), batch, height, width])
    return tf.reduce_min(tf.stack([_disc_min(grid[i], r, fill)
                                   for i, r in enumerate(radii)]), axis=0)


def _blotches(keys, order, height, width, fill):
    """int32 [B, H, W]: per pixel the lowest `order` ([B, S] element numbers) of the blotches
    covering it (`fill` where none does): ellipses, then rotated boxes (half of them each)."""
    batch = order.shape[0] or tf.shape(order)[0]
    side = min(height, width)
    shape = [batch, order.shape[1]]

    def uniform(i, a, b):
        return _uniform(shape, keys[i], a, b)[..., None, None]

    cy, cx = uniform(7, 0.0, height - 1.0), uniform(8, 0.0, width - 1.0)
    a = uniform(9, BLOTCH_AXES[0] * side, BLOTCH_AXES[1] * side)
    b = uniform(10, BLOTCH_AXES[0] * side, BLOTCH_AXES[1] * side)
    angle = uniform(11, 0.0, math.pi)
    cos, sin = tf.cos(angle), tf.sin(angle)
    dy = tf.range(height, dtype=tf.float32)[None, None, :, None] - cy  # [B, S, H, 1]
    dx = tf.range(width, dtype=tf.float32)[None, None, None, :] - cx  # [B, S, 1, W]
    e, k = slice(None, (shape[1] + 1) // 2), slice((shape[1] + 1) // 2, None)  # ellipses, boxes
    # Ellipses: u^2 + w^2 in the ellipse's own axes (u, w in semi-axes), written as a quadratic
    # form in (dx, dy): its x^2 and y^2 terms are rows and columns, only the xy term is a full
    # [H, W] product (the cheapest way on a CPU).
    ia, ib, c, s = 1 / tf.square(a[:, e]), 1 / tf.square(b[:, e]), cos[:, e], sin[:, e]
    ellipse = (tf.square(dx[:, e]) * (c * c * ia + s * s * ib)
               + tf.square(dy[:, e]) * (s * s * ia + c * c * ib)
               + (dx[:, e] * (2 * c * s * (ia - ib))) * dy[:, e])
    # Boxes: the larger of |u| and |w|.
    box = tf.maximum(tf.abs(dx[:, k] * (cos[:, k] / a[:, k]) + dy[:, k] * (sin[:, k] / a[:, k])),
                     tf.abs(dy[:, k] * (cos[:, k] / b[:, k]) - dx[:, k] * (sin[:, k] / b[:, k])))
    # The smallest element number among the blotches with size <= 1 (no select: a broadcasting
    # select is slow on CPUs).
    number = tf.cast(order, tf.float32)[..., None, None]
    lowest = tf.minimum(
        tf.reduce_min(number[:, e] + fill * tf.cast(ellipse > 1.0, tf.float32), axis=1),
        tf.reduce_min(number[:, k] + fill * tf.cast(box > 1.0, tf.float32), axis=1))
    return tf.minimum(tf.cast(lowest, tf.int32), fill)


def element_counts(kind, high):
    """(strokes, blotches) drawn per image for `kind` and the top of the area range `high`:
    enough that nearly every image can reach `high` (about 50 strokes or 35 blotches per unit
    of hole area; freeform 70% strokes)."""
    strokes = {"strokes": 1.0, "blotches": 0.0}.get(kind, STROKE_SHARE)
    return (int(math.ceil(strokes * 50 * high)) + (strokes > 0),
            int(math.ceil((1 - strokes) * 35 * high)) + (strokes < 1))


def freeform_masks(batch, height, width, seed, kind="freeform", area=AREA, hole_size=None):
    """[batch, height, width, 1] masks of `kind` (strokes, blotches, freeform, mixed: see the
    module's docstring) with a hole area in `area` (fractions of the image). Stateless: `seed`
    (int [2]) determines them; every draw comes from the STROKES stream of `seed` (mixed: the
    squares from the square maker's own streams). `height` and `width` must be Python ints.
    `hole_size`: the squares' side (mixed only). TensorFlow ops only, XLA-compatible; under XLA
    TensorFlow's stateless generators give other bits than on the CPU kernels, so a jit-compiled
    train_step (GPUs) draws other, equally distributed holes than the tf.data map (each path is
    repeatable on its own)."""
    if kind not in KINDS[1:5]:
        raise ValueError(f"free-form kind must be one of {KINDS[1:5]}, got {kind!r}")
    low, high = float(area[0]), float(area[1])
    if not 0.0 < low <= high < 1.0:
        raise ValueError(f"hole area range must satisfy 0 < low <= high < 1, got {area}")
    if kind == "mixed" and hole_size is None:
        raise ValueError("mixed holes need hole_size (the squares' side)")
    height, width = int(height), int(width)
    keys = _stream(seed, 16)
    n_strokes, n_blotches = element_counts(kind, high)
    count = n_strokes + n_blotches
    # Element numbers in a random order per image: strokes and blotches interleave.
    order = tf.argsort(_uniform([batch, count], keys[13]), axis=1)
    index = tf.fill([batch, height, width], count)
    if n_strokes:
        index = tf.minimum(index, _strokes(keys, order[:, :n_strokes], height, width, count))
    if n_blotches:
        index = tf.minimum(index, _blotches(keys, order[:, n_strokes:], height, width, count))
    # Area of the union of the first n elements, for every n; keep the n nearest the target
    # among those inside [low, high].
    pixels = float(height * width)
    cells = tf.reshape(index + (count + 1) * tf.range(batch)[:, None, None], [-1])
    counts = tf.reshape(tf.math.unsorted_segment_sum(tf.ones_like(cells, tf.float32), cells,
                                                     batch * (count + 1)), [batch, count + 1])
    prefix = tf.cumsum(counts[:, :count], axis=1) / pixels  # [B, count]
    target = _uniform([batch], keys[14], low, high)
    outside = tf.cast((prefix < low) | (prefix > high), tf.float32)
    n = tf.argmin(tf.abs(prefix - target[:, None]) + 2.0 * outside, axis=1, output_type=tf.int32)
    masks = tf.cast(index > n[:, None, None], tf.float32)[..., None]
    if kind == "mixed":
        square = _uniform([batch], keys[15]) < SQUARE_SHARE
        masks = tf.where(square[:, None, None, None],
                         square_masks(batch, height, width, hole_size, seed), masks)
    return masks


@keras.saving.register_keras_serializable(package="tfinpaint")
class HoleMaker(keras.layers.Layer):
    """A preprocessing-style layer: images [B, H, W, C] -> masks [B, H, W, 1] (1 known, 0 hole).

    mode="random": holes of `kind` (KINDS): one hole_size square per image at a uniform position
    (the default), or free-form holes (strokes, blotches, freeform, mixed) with a hole area in
    `area`; "center": centred squares; "bank": a mask drawn at random from `masks` (e.g. read
    from user files with `tfinpaint.data.load_masks`). Called without `seed`, it draws from its own seeded
    `keras.random.SeedGenerator`, so inside `train_step` the holes are made on the model's device
    (under tf.distribute each replica cuts its own holes, see `distribute.stream_key`);
    in a `tf.data` map pass a per-batch `seed` for order-independent determinism.
    """

    MODES = ("random", "center", "bank")

    def __init__(self, hole_size=12, mode="random", masks=None, seed=None, kind="square",
                 area=AREA, **kwargs):
        super().__init__(**kwargs)
        if mode not in self.MODES:
            raise ValueError(f"HoleMaker mode must be one of {self.MODES}, got {mode!r}")
        if mode == "bank" and masks is None:
            raise ValueError("HoleMaker(mode='bank') needs `masks`")
        if kind not in KINDS or (kind != "square" and mode != "random"):
            raise ValueError(f"HoleMaker kind must be one of {KINDS} (not square: with mode "
                             f"'random' only), got {kind!r} with mode {mode!r}")
        if not 0.0 < area[0] <= area[1] < 1.0:
            raise ValueError(f"HoleMaker area must satisfy 0 < low <= high < 1, got {area}")
        self.hole_size, self.mode, self.seed = int(hole_size), mode, seed
        self.kind, self.area = kind, (float(area[0]), float(area[1]))
        self.bank = None if masks is None else tf.constant(masks, tf.float32)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True  # no weights to build (under tf.distribute Keras checks every layer)

    def call(self, images, seed=None):
        if seed is None:
            seed = self.seed_generator.next()
        shape = tf.shape(images)
        batch, height, width = shape[0], images.shape[1] or shape[1], images.shape[2] or shape[2]
        if self.mode == "bank":
            index = tf.random.stateless_uniform(
                [batch], stream_key(seed, HOLE_BANK), 0, tf.shape(self.bank)[0], tf.int32)
            return tf.gather(self.bank, index)
        if self.kind != "square":
            if images.shape[1] is None or images.shape[2] is None:
                raise ValueError("free-form holes need images of a static height and width")
            if self.kind in PHOTO_KINDS:
                return photo_masks(batch, height, width, seed, self.kind)
            return freeform_masks(batch, height, width, seed, self.kind, self.area,
                                  self.hole_size)
        return square_masks(batch, height, width, self.hole_size, seed, self.mode == "center")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:3]) + (1,)

    def get_config(self):
        return {**super().get_config(), "hole_size": self.hole_size, "mode": self.mode,
                "seed": self.seed, "kind": self.kind, "area": list(self.area)}
