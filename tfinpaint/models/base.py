"""What every method shares: the 4-channel input, compositing, hole making, train/test steps.

A method module builds a functional `net` (4-channel input -> fill) and, where it differs,
overrides `fill` (how the net's output becomes a full-size fill) or `train_step`; an adversarial
method writes `Adversarial`'s hooks (generate_fake, discriminator_loss, generator_loss) instead.
"""
import keras
import tensorflow as tf

from tfinpaint import losses, metrics
from tfinpaint.data.holes import HoleMaker, assert_compact, hole_bbox
from tfinpaint.distribute import step_logs
from tfinpaint.keras_compat import BuiltModel


def model_input(images, masks):
    """The thesis' input: RGB with the hole zeroed, plus the location map (1 known, 0 hole)."""
    return tf.concat([images * masks, masks], axis=-1)


def composite(images, fills, masks):
    """Known pixels from `images` (bit for bit), hole pixels from `fills`."""
    return tf.where(masks > 0.5, images, tf.cast(fills, images.dtype))


def loss_scaled(optimizer):
    """`optimizer` in a LossScaleOptimizer under a global mixed_float16 policy (the one the
    sub-networks are built in), else itself."""
    optimizer = keras.optimizers.get(optimizer)
    if (keras.config.dtype_policy().name == "mixed_float16"
            and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer)):
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


class Inpainter(BuiltModel):
    """Wraps a functional `net`; called on `{"image", "mask"}` (or a pair) it returns the
    composited image. Trains on batches of images (holes made here, on the model's device, by a
    seeded `HoleMaker`) or on `(image, mask)` pairs from the pipeline.

    The step contract every method follows: `loss` is the same quantity in training and
    validation (the reconstruction loss here); other scalars have their own names in `TRACKED`;
    `minimize` is the one place a loss becomes an optimizer update; `record` updates trackers and
    image metrics (by name) and returns the step's logs."""

    TRACKED = ("loss",)

    def __init__(self, net, hole_size=12, known_weight=0.0, loss="mse", seed=None, patch_size=None,
                 fixed_size=None, size_multiple=1, **kwargs):
        """`known_weight`: loss weight of known pixels relative to hole pixels (0: hole only, 1:
        the whole image alike); `patch_size`: the net sees a window round the hole and outputs
        only the hole patch (see `hole_window`); `fixed_size`: the net takes only fixed_size x
        fixed_size images; `size_multiple`: inputs are zero-padded (as unknown pixels) to a
        multiple of this. The wrapper itself computes in float32 whatever the global dtype
        policy (its sub-networks compute in theirs): under mixed precision Keras would otherwise
        cast the images to bfloat16/float16 on the way in, and known pixels would come back
        rounded and the exported signature would return half-precision images."""
        super().__init__(dtype="float32", **kwargs)
        self.net = net
        self.hole_size, self.known_weight, self.loss_kind = hole_size, known_weight, loss
        self.patch_size, self.fixed_size, self.size_multiple = patch_size, fixed_size, size_multiple
        self.hole_maker = HoleMaker(hole_size, seed=seed)
        self.trackers = {n: keras.metrics.Mean(name=n) for n in self.TRACKED}
        self.image_metrics = {n: metrics.ImageMetric(n) for n in metrics.FUNCTIONS}
        self.built = True  # the functional sub-networks own every weight and are built already

    @property
    def metrics(self):
        return [*self.trackers.values(), *self.image_metrics.values()]

    def compile(self, optimizer, **kwargs):
        """Keras wraps the optimizer in a LossScaleOptimizer when the model's own policy is
        mixed_float16; ours is float32 (see __init__), so that is decided here from the global
        policy the sub-networks were built under."""
        super().compile(optimizer=loss_scaled(optimizer), **kwargs)

    def call(self, inputs, training=False):
        images, masks = (inputs["image"], inputs["mask"]) if isinstance(inputs, dict) else inputs
        return composite(images, self.fill(images, masks, training), masks)

    def fill(self, images, masks, training=False):
        """A full-size float32 prediction; only its hole pixels are used."""
        inputs, restore = self.prepare(model_input(images, masks), masks)
        return restore(self.net(inputs, training=training))

    def prepare(self, x, masks):
        """The net's input from the 4-channel input, and the function that turns the net's
        output back into a full-size fill: here zero padding (as unknown pixels) to a multiple of
        `size_multiple` and cropping back; or the window round the hole (`patch_size`)."""
        if self.patch_size:
            return hole_window(x, masks, self.patch_size, self.hole_size)
        if self.fixed_size:
            check = tf.debugging.assert_equal(
                tf.shape(x)[1:3], [self.fixed_size, self.fixed_size],
                message=f"this model takes {self.fixed_size}x{self.fixed_size} images")
            with tf.control_dependencies([check]):
                return tf.identity(x), lambda y: y
        m = self.size_multiple
        if m == 1:
            return x, lambda y: y
        h, w = tf.shape(x)[1], tf.shape(x)[2]
        x = tf.pad(x, [[0, 0], [0, (-h) % m], [0, (-w) % m], [0, 0]])
        return x, lambda y: y[:, :h, :w, :]

    def reconstruction_loss(self, images, fills, masks):
        return losses.masked_reconstruction(images, fills, masks, self.known_weight, self.loss_kind)

    @property
    def patch_frame(self):
        """Whether the loss is computed on the patch frame (see loss_frame)."""
        return bool(self.patch_size) and not self.known_weight and self.hole_maker.mode != "bank"

    def loss_frame(self, images, masks):
        """What `loss` (and the training step's hole metric) compares fills with: the images
        and masks, and the function taking a full-size fill into that frame. Whole images; for
        patch methods the p x p window the patch covers (the thesis' 1/n^2 sum on the patch;
        pixels outside the image count as known), so a training step neither pastes the patch
        nor backpropagates through the paste. The patch frame is used only where it gives the
        whole image's figures exactly: square holes of hole_size (not a mask bank, whose holes
        are resampled into the patch) and known_weight 0 (the known pixels outside the frame
        would count otherwise). It is decided from the model's own hole maker: (image, mask)
        pairs of other compact holes fitted directly get the frame's resampled loss."""
        if not self.patch_frame:
            return images, masks, lambda fills: fills
        with tf.control_dependencies([assert_compact(masks)]):  # as paste_patch would
            def crop(x):
                return crop_patch(x, masks, self.patch_size, self.hole_size)
            outside = 1.0 - crop(tf.ones_like(masks))
        return crop(images), crop(masks) + outside, crop

    def unpack(self, data):
        if isinstance(data, (tuple, list)):
            return data[0], data[1]
        return data, self.hole_maker(data)

    def minimize(self, tape, loss, optimizer, weights):
        """One optimizer update from `loss` recorded on `tape`. Gradients are summed over
        replicas, so each replica's loss counts 1/replicas; under mixed_float16 the optimizer's
        loss scale enters the backward pass (as `scale_loss` would) and `apply` unscales."""
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        factor = optimizer.scale_loss(tf.constant(1.0 / replicas))
        grads = tape.gradient(loss, weights, output_gradients=tf.cast(factor, loss.dtype))
        optimizer.apply(grads, weights)

    def record(self, scalars, images=None, outputs=None, masks=None, image_metrics=()):
        """Updates the trackers of `scalars` (name -> value) and the image metrics named in
        `image_metrics` on the composited `outputs`; returns their running values as logs."""
        for name, value in scalars.items():
            self.trackers[name].update_state(value)
        for name in image_metrics:
            self.image_metrics[name].update_state(images, outputs, masks)
        logs = {n: self.trackers[n].result() for n in scalars}
        logs.update({n: self.image_metrics[n].result() for n in image_metrics})
        return step_logs(logs)

    def train_step(self, data):
        images, masks = self.unpack(data)
        inputs, restore = self.prepare(model_input(images, masks), masks)
        targets, frame_masks, _ = self.loss_frame(images, masks)
        with tf.GradientTape() as tape:
            outputs = self.net(inputs, training=True)
            fills = outputs if self.patch_frame else restore(outputs)
            loss = self.reconstruction_loss(targets, fills, frame_masks)
        self.minimize(tape, loss, self.optimizer, self.net.trainable_variables)
        # A hole metric reads hole pixels only: no compositing needed.
        return self.record({"loss": loss}, targets, fills, frame_masks, ["hole_psnr"])

    def test_step(self, data):
        images, masks = self.unpack(data)
        fills = self.fill(images, masks, training=False)
        targets, frame_masks, to_frame = self.loss_frame(images, masks)
        loss = self.reconstruction_loss(targets, to_frame(fills), frame_masks)
        return self.record({"loss": loss}, images, composite(images, fills, masks), masks,
                           list(self.image_metrics))

    def preview(self, images, masks):
        """Composited fills for the per-epoch TensorBoard grid."""
        return self({"image": images, "mask": masks}, training=False)

    def build_optimizers(self):
        """Creates the optimizer state up front, so a checkpoint can restore into it."""
        self.optimizer.build(self.net.trainable_variables)

    def extra_optimizers(self):
        """Optimizers besides `self.optimizer` (checkpointed with it), by name."""
        return {}


class Adversarial(Inpainter):
    """Methods with discriminators: their own optimizer (a copy of the generator's unless given,
    checkpointed beside it) and one training step for all of them. `loss` stays the
    reconstruction loss, as in validation; the players' losses are logged as `g_loss` and
    `d_loss`. A method passes its discriminators to __init__ and writes three hooks:

        fills, fake = generate_fake(images, masks, training)
            fills: the full-size [0, 1] fill (None for a generator of whole images, the DCGAN's);
            fake: what the discriminators judge (default: the composited image).
        d_loss, logs = discriminator_loss(images, fake, masks)
        g_loss, logs = generator_loss(images, fills, fake, masks)

    `logs` are further scalars to track (names in `TRACKED`; the generator's `loss`, the
    reconstruction loss, among them). Losses: `tfinpaint.losses` (non-saturating, least squares,
    R1, feature matching). The update order (`train_step`), `update_order = "alternating"`:

      (a) fills, fake = generate_fake(images, masks, training=True), outside any tape;
      (b) under a tape: discriminator_loss(images, fake, masks); the discriminators are updated;
      (c) under a tape: fills and fake generated again (training=True), generator_loss(images,
          fills, fake, masks) against the updated discriminators; the generator is updated;
      (d) record: g_loss, d_loss, both hooks' logs and, with fills, the hole PSNR of the
          composited fills of (c).

    Two variants of it, for methods that run their generator once per step:
    - "one_pass": (a) runs under the generator's tape and (c) reuses it: the discriminators are
      updated on `fake` detached (stop_gradient), then the generator's loss on the same fills
      faces the updated discriminators. The same figures as "alternating" for a generator
      without noise or BatchNorm, for one generator pass instead of two.
    - "simultaneous" (the DCGAN and the context encoder, as they have always trained here):
      (a), (b) and (c) share one `generate_fake` and one persistent tape (both losses computed
      before either update); then the discriminators and the generator are updated, both from
      gradients at the pre-update weights. Noise (z, augmentation, dropout) is drawn and
      BatchNorm statistics are updated once per step.

    `conditional = False`: the generator does not see the holes (the DCGAN learns whole images
    from noise), so training makes none and the hooks get masks=None."""

    TRACKED = ("loss", "g_loss", "d_loss", "adversarial", "d_acc_real", "d_acc_fake")
    UPDATE_ORDERS = ("alternating", "one_pass", "simultaneous")
    update_order = "alternating"
    conditional = True

    def __init__(self, net, discriminators, **kwargs):
        super().__init__(net, **kwargs)
        self.discriminators = list(discriminators)

    @property
    def discriminator_weights(self):
        return [w for d in self.discriminators for w in d.trainable_weights]

    def compile(self, optimizer, d_optimizer=None, **kwargs):
        super().compile(optimizer=optimizer, **kwargs)
        if d_optimizer is None:  # a copy of the generator's (loss-scaled too under mixed_float16)
            d_optimizer = self.optimizer.__class__.from_config(self.optimizer.get_config())
        self.d_optimizer = loss_scaled(d_optimizer)

    def build_optimizers(self):
        super().build_optimizers()
        self.d_optimizer.build(self.discriminator_weights)

    def extra_optimizers(self):
        return {"d_optimizer": self.d_optimizer}

    def update_discriminators(self, tape, d_loss):
        self.minimize(tape, d_loss, self.d_optimizer, self.discriminator_weights)

    def update_generator(self, tape, g_loss):
        self.minimize(tape, g_loss, self.optimizer, self.net.trainable_variables)

    # --- the hooks

    def generate_fake(self, images, masks, training=False):
        """(fills, fake): the full-size fill, and what the discriminators judge (here the
        composited image)."""
        fills = self.fill(images, masks, training=training)
        return fills, composite(images, fills, masks)

    def discriminator_loss(self, images, fake, masks):
        """(d_loss, logs) of the discriminators on the real `images` and on `fake`."""
        raise NotImplementedError

    def generator_loss(self, images, fills, fake, masks):
        """(g_loss, logs) of the generator for `fills` / `fake` (from `generate_fake`)."""
        raise NotImplementedError

    # --- the step

    def scalars(self, g_loss, d_loss, g_logs, d_logs):
        """The step's scalars by name, in `TRACKED`'s order."""
        values = {"g_loss": g_loss, "d_loss": d_loss, **g_logs, **d_logs}
        unknown = sorted(set(values) - set(self.TRACKED))
        if unknown:
            raise KeyError(f"{self.name} logs {unknown}, which are not in its TRACKED")
        return {n: values[n] for n in self.TRACKED if n in values}

    def train_step(self, data):
        """One update of each player, in `update_order` (see the class docstring)."""
        if self.update_order not in self.UPDATE_ORDERS:
            raise ValueError(f"{self.name}: update_order must be one of {self.UPDATE_ORDERS}, "
                             f"got {self.update_order!r}")
        if self.conditional:
            images, masks = self.unpack(data)
        else:  # whole images only: no holes drawn
            images, masks = (data[0] if isinstance(data, (tuple, list)) else data), None
        if self.update_order == "simultaneous":
            with tf.GradientTape(persistent=True) as tape:
                fills, fake = self.generate_fake(images, masks, training=True)
                d_loss, d_logs = self.discriminator_loss(images, fake, masks)
                g_loss, g_logs = self.generator_loss(images, fills, fake, masks)
            self.update_discriminators(tape, d_loss)
            self.update_generator(tape, g_loss)
            del tape
        elif self.update_order == "one_pass":
            with tf.GradientTape() as g_tape:
                fills, fake = self.generate_fake(images, masks, training=True)  # (a)
                with g_tape.stop_recording():  # (b)
                    with tf.GradientTape() as d_tape:
                        d_loss, d_logs = self.discriminator_loss(
                            images, tf.nest.map_structure(tf.stop_gradient, fake), masks)
                    self.update_discriminators(d_tape, d_loss)
                g_loss, g_logs = self.generator_loss(images, fills, fake, masks)  # (c)
            self.update_generator(g_tape, g_loss)
        else:
            _, fake = self.generate_fake(images, masks, training=True)  # (a)
            with tf.GradientTape() as tape:  # (b)
                d_loss, d_logs = self.discriminator_loss(images, fake, masks)
            self.update_discriminators(tape, d_loss)
            with tf.GradientTape() as tape:  # (c)
                fills, fake = self.generate_fake(images, masks, training=True)
                g_loss, g_logs = self.generator_loss(images, fills, fake, masks)
            self.update_generator(tape, g_loss)
        scalars = self.scalars(g_loss, d_loss, g_logs, d_logs)  # (d)
        if fills is None:
            return self.record(scalars)
        return self.record(scalars, images, composite(images, fills, masks), masks, ["hole_psnr"])


def hole_frame(masks, hole_size):
    """Each hole's centre (cy, cx) and scale (image pixels per patch pixel, 1 for a hole_size
    square; other holes' bounding boxes are resampled to the patch)."""
    top, left, bottom, right = hole_bbox(masks)
    side = tf.cast(tf.maximum(tf.maximum(bottom - top, right - left), 1), tf.float32)
    return (tf.cast(top + bottom, tf.float32) / 2.0, tf.cast(left + right, tf.float32) / 2.0,
            side / float(hole_size))


def _sample(x, cy, cx, scale, n, half):
    """n x n samples (nearest) of x starting `half` patch pixels before the hole centre;
    outside the image reads zeros."""
    def index(centre, limit):
        # The pixel under each sample point; on a pixel boundary (odd holes) the one before
        # it, as paste_patch rounds the other way round, so crop and paste agree.
        idx = tf.math.ceil(centre[:, None] - half * scale[:, None]
                           + (tf.range(n, dtype=tf.float32)[None, :] + 0.5) * scale[:, None]) - 1
        idx = tf.cast(idx, tf.int32)
        return tf.where((idx >= 0) & (idx < limit), idx, -1)

    rows, cols = index(cy, tf.shape(x)[1]), index(cx, tf.shape(x)[2])
    out = tf.gather(x, tf.maximum(rows, 0), axis=1, batch_dims=1)
    out = tf.gather(out, tf.maximum(cols, 0), axis=2, batch_dims=1)
    inside = tf.cast((rows >= 0)[:, :, None] & (cols >= 0)[:, None, :], x.dtype)[..., None]
    return out * inside


def paste_patch(patch, masks, hole_size):
    """A full-size image holding the p x p `patch` over each hole (only the hole is used).
    Every patch method's fill passes here, so this is where a mask that is not one compact hole
    (`holes.COMPACT_FILL`: free-form strokes, several holes) fails, with `holes.NOT_COMPACT`,
    instead of being resampled into the patch."""
    with tf.control_dependencies([assert_compact(masks)]):
        cy, cx, scale = hole_frame(masks, hole_size)
    p = patch.shape[1]

    def index(centre, n):  # [B, n] patch index for every image row/column
        u = (tf.range(n, dtype=tf.float32)[None, :] + 0.5 - centre[:, None]) / scale[:, None]
        return tf.clip_by_value(tf.cast(tf.floor(u + p / 2.0), tf.int32), 0, p - 1)

    full = tf.gather(patch, index(cy, tf.shape(masks)[1]), axis=1, batch_dims=1)
    return tf.gather(full, index(cx, tf.shape(masks)[2]), axis=2, batch_dims=1)


def crop_patch(images, masks, p, hole_size):
    """The p x p patch of `images` that `paste_patch` would cover: the real hole content."""
    cy, cx, scale = hole_frame(masks, hole_size)
    return _sample(images, cy, cx, scale, p, p / 2.0)


def hole_window(x, masks, p, hole_size):
    """The 2p x 2p window centred on each hole (outside the image = zeros), and the function that
    pastes the net's p x p patch back over the hole. A hole_size square maps 1:1."""
    cy, cx, scale = hole_frame(masks, hole_size)
    return _sample(x, cy, cx, scale, 2 * p, p), lambda patch: paste_patch(patch, masks, hole_size)
