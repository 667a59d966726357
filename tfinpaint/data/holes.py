"""Hole makers written only with TensorFlow ops, so they run in a `tf.data` map or in `train_step`.

Convention everywhere in tfinpaint: a mask (the thesis' "location map") is float32 [B, H, W, 1]
with 1 = known pixel and 0 = hole.
"""
import keras
import tensorflow as tf

from tfinpaint.distribute import HOLE_BANK, HOLE_COLUMN, HOLE_ROW, stream_key


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


@keras.saving.register_keras_serializable(package="tfinpaint")
class HoleMaker(keras.layers.Layer):
    """A preprocessing-style layer: images [B, H, W, C] -> masks [B, H, W, 1] (1 known, 0 hole).

    mode="random": one hole_size square per image at a uniform position; "center": centred
    squares; "bank": a mask drawn at random from `masks` (e.g. read from user files with
    `tfinpaint.data.load_masks`). Called without `seed`, it draws from its own seeded
    `keras.random.SeedGenerator`, so inside `train_step` the holes are made on the model's device
    (under tf.distribute each replica cuts its own holes, see `distribute.stream_key`);
    in a `tf.data` map pass a per-batch `seed` for order-independent determinism.
    """

    MODES = ("random", "center", "bank")

    def __init__(self, hole_size=12, mode="random", masks=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if mode not in self.MODES:
            raise ValueError(f"HoleMaker mode must be one of {self.MODES}, got {mode!r}")
        if mode == "bank" and masks is None:
            raise ValueError("HoleMaker(mode='bank') needs `masks`")
        self.hole_size, self.mode, self.seed = int(hole_size), mode, seed
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
        return square_masks(batch, height, width, self.hole_size, seed, self.mode == "center")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:3]) + (1,)

    def get_config(self):
        return {**super().get_config(), "hole_size": self.hole_size, "mode": self.mode,
                "seed": self.seed}
