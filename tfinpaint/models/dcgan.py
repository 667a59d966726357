"""DCGAN face completion (`dcgan_face_completion.txt`, Yeh et al. 2017).

Training: a DCGAN learns complete images (holes play no part). Completion: a batch of latent
vectors is optimised so G(z) matches the known pixels (contextual L1, each known pixel weighted by
the share of hole pixels among its 7x7 neighbours) and still fools D (prior loss, weight `lam`),
with Adam (`z_lr`, `z_beta1`) for `z_steps` steps inside one graph, from the best of `z_restarts`
draws per image; the best z per image is kept and the hole of G(z) is pasted in (with
`blend=True`, Poisson-blended first, as Yeh et al. do). The exported SavedModel runs the search
itself. Training shows both players DiffAugment'ed images (`diff_augment`, Zhao et al. 2020): with
a few thousand faces the discriminator otherwise memorises the training set within a few epochs
and the generator learns speckle.
"""
import dataclasses

import keras
import tensorflow as tf
from keras import layers

from tfinpaint import distribute
from tfinpaint.augment import diff_augment
from tfinpaint.losses import (discriminator_accuracy as accuracy, nonsaturating_discriminator,
                              nonsaturating_generator)
from tfinpaint.models import hparams
from tfinpaint.models.base import Adversarial, composite
from tfinpaint.models.layers import batch_norm, dense_logit, to_signed, to_unit
from tfinpaint.models.registry import register, setting, settings
from tfinpaint.utils import ConfigError


def dcgan_generator(size=64, latent_dim=100, filters=64):
    """z -> 4x4x(8f) -> stride-2 5x5 transposed convs (BatchNorm, ReLU) -> size x size, tanh."""
    blocks = size.bit_length() - 3  # 64 -> 4 upsamplings from 4x4
    if size < 8 or 4 * 2 ** blocks != size:
        raise ConfigError(f"dcgan needs a power-of-two image size of at least 8, got {size}.")
    z = keras.Input((latent_dim,), name="z")
    width = filters * 2 ** (blocks - 1)
    x = layers.Dense(4 * 4 * width, use_bias=False)(z)
    x = layers.ReLU()(batch_norm()(layers.Reshape((4, 4, width))(x)))
    for i in range(blocks - 1):
        width //= 2
        x = layers.Conv2DTranspose(width, 5, strides=2, padding="same", use_bias=False)(x)
        x = layers.ReLU()(batch_norm()(x))
    x = layers.Conv2DTranspose(3, 5, strides=2, padding="same", activation="tanh",
                               dtype="float32")(x)
    return keras.Model(z, x, name="generator")


def dcgan_discriminator(size=64, filters=64):
    """Stride-2 5x5 convs with LeakyReLU (BatchNorm after the first), then a logit."""
    x = inputs = keras.Input((size, size, 3), name="image")
    width = filters
    for i in range(size.bit_length() - 3):
        x = layers.Conv2D(width, 5, strides=2, padding="same")(x)
        if i:
            x = batch_norm()(x)
        x = layers.LeakyReLU(0.2)(x)
        width *= 2
    return keras.Model(inputs, dense_logit(x), name="discriminator")


def contextual_weights(masks, neighbourhood=7):
    """Yeh et al.'s importance weights: for a known pixel, the share of hole pixels among its
    neighbours (known pixels far from the hole count little); 0 inside the hole."""
    hole_share = tf.nn.avg_pool2d(1.0 - masks, neighbourhood, 1, "SAME")
    return masks * hole_share


def poisson_blend(images, fills, masks, iterations=400):
    """`fills` with a harmonic correction added in the hole, so that the fill's gradients are
    kept and its values meet the image's at the hole's border (Poisson blending, Perez et al.
    2003, solved by Jacobi iterations started from the mean border offset)."""
    known = images - fills
    w = contextual_weights(masks)
    offset = tf.reduce_sum(w * known, [1, 2], keepdims=True) / tf.maximum(
        tf.reduce_sum(w, [1, 2], keepdims=True), 1e-6)
    kernel = tf.constant([[0, .25, 0], [.25, 0, .25], [0, .25, 0]], tf.float32)
    kernel = tf.tile(kernel[:, :, None, None], [1, 1, 3, 1])

    def step(i, d):
        neighbours = tf.nn.depthwise_conv2d(
            tf.pad(d, [[0, 0], [1, 1], [1, 1], [0, 0]], "SYMMETRIC"), kernel, [1] * 4, "VALID")
        return i + 1, masks * known + (1.0 - masks) * neighbours

    d = masks * known + (1.0 - masks) * offset
    _, d = tf.while_loop(lambda i, d: i < iterations, step, (tf.constant(0), d))
    return tf.clip_by_value(fills + d, 0.0, 1.0)


class DCGAN(Adversarial):
    """Trained as an unconditional GAN (`conditional = False`: no holes), both players from one
    forward pass per step (update_order "simultaneous"): one z draw, one DiffAugment draw and one
    discriminator pass over the real and the generated batch serve both losses."""

    # No reconstruction loss here; d_loss first, as this method has always logged it.
    TRACKED = ("d_loss", "g_loss", "d_acc_real", "d_acc_fake")
    update_order = "simultaneous"
    conditional = False

    def __init__(self, generator, discriminator, s, seed=None, **kwargs):
        """`s`: the DCGANSettings (their help says what each does; `val_search_steps` > 0:
        validation also completes its images with a search and reports `hole_psnr`, what
        keras-tuner needs to search `lam`)."""
        super().__init__(generator, [discriminator], seed=seed, **kwargs)
        self.discriminator = discriminator
        self.latent_dim = generator.input_shape[-1]
        self.lam, self.z_lr, self.z_beta1, self.z_steps = s.lam, s.z_lr, s.z_beta1, s.z_steps
        self.z_patience, self.z_tolerance = s.z_patience, s.z_tolerance
        self.z_restarts, self.augment = s.z_restarts, s.diff_augment
        self.blend, self.val_search_steps = s.blend, s.val_search_steps
        self.noise = keras.random.SeedGenerator(seed)

    def generate_fake(self, images, masks=None, training=False):
        """The game's forward pass: G(z) for a batch of z, both batches DiffAugment'ed in
        training, and the discriminator's logits on each. No fill (None); `fake` is the logits
        (real, generated), which both losses read: the discriminator runs once per batch (one
        BatchNorm update each), as it always has."""
        z = distribute.normal([tf.shape(images)[0], self.latent_dim], self.noise)
        fake, real = self.net(z, training=training), to_signed(images)
        if training and self.augment:  # fresh draws for the real and the fake batch
            key = distribute.stream_key(self.noise.next(), distribute.AUGMENT)
            keys = tf.random.experimental.stateless_split(key, 2)
            real, fake = diff_augment(real, keys[0]), diff_augment(fake, keys[1])
        real_logits = self.discriminator(real, training=training)
        fake_logits = self.discriminator(fake, training=training)
        return None, (real_logits, fake_logits)

    def discriminator_loss(self, images, fake, masks):
        real_logits, fake_logits = fake
        return nonsaturating_discriminator(real_logits, fake_logits), dict(
            d_acc_real=accuracy(real_logits, True), d_acc_fake=accuracy(fake_logits, False))

    def generator_loss(self, images, fills, fake, masks):
        return nonsaturating_generator(fake[1]), {}

    def gan_losses(self, images, training):
        """The game's scalars on `images` (d_loss, g_loss, the discriminator's accuracies)."""
        _, logits = self.generate_fake(images, training=training)
        d_loss, d_logs = self.discriminator_loss(images, logits, None)
        g_loss, g_logs = self.generator_loss(images, None, logits, None)
        return self.scalars(g_loss, d_loss, g_logs, d_logs)

    def test_step(self, data):
        """The GAN game on held-out images; completing them (a latent search per batch) only
        with `val_search_steps`, being slow."""
        images, masks = self.unpack(data)
        values = self.gan_losses(images, training=False)
        if not self.val_search_steps:
            return self.record(values)
        outputs = composite(images, self.fill(images, masks, steps=self.val_search_steps), masks)
        return self.record(values, images, outputs, masks, list(self.image_metrics))

    def preview(self, images, masks):  # a short search: enough to watch training progress
        return composite(images, self.fill(images, masks, steps=min(self.z_steps, 50)), masks)

    def generate(self, n, seed=(0, 0)):
        """n unconditional samples G(z) in [0, 1], z keyed on `seed` (BatchNorm in inference
        mode, as in the latent search)."""
        return to_unit(self.net(tf.random.stateless_normal([n, self.latent_dim], seed),
                                training=False))

    def search_losses(self, z, target, weights):
        """Per-image contextual and prior losses of latent vectors z."""
        generated = self.net(z, training=False)
        contextual = tf.reduce_sum(weights * tf.abs(generated - target), axis=[1, 2, 3])
        logits = self.discriminator(generated, training=False)[:, 0]
        prior = tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(logits), logits)
        return contextual, prior, generated

    def fill(self, images, masks, training=False, seed=(0, 0), steps=None):
        """G(z) in [0, 1] for the best z of the latent search (composited by the caller)."""
        best_z, _ = self.search(images, masks, seed, steps)
        generated = to_unit(self.net(best_z, training=False))
        return poisson_blend(images, generated, masks) if self.blend else generated

    def search(self, images, masks, seed=(0, 0), steps=None):
        """The latent search: the best z per image and its loss (contextual + lam * prior); the
        search starts, per image, from the best (lowest loss) of `z_restarts` stateless normal
        draws keyed on `seed`. With `z_patience`, it ends
        early once every image has gone that many steps without a relative improvement of
        `z_tolerance` (each image keeps its best z either way)."""
        steps = self.z_steps if steps is None else steps
        target, weights = to_signed(images), contextual_weights(masks)
        batch = tf.shape(images)[0]
        z = tf.random.stateless_normal([self.z_restarts * batch, self.latent_dim], seed)
        if self.z_restarts > 1:
            tile = [self.z_restarts, 1, 1, 1]
            contextual, prior, _ = self.search_losses(
                z, tf.tile(target, tile), tf.tile(weights, tile))
            loss = tf.reshape(contextual + self.lam * prior, [self.z_restarts, batch])
            z = tf.reshape(z, [self.z_restarts, batch, self.latent_dim])
            z = tf.gather(tf.transpose(z, [1, 0, 2]), tf.argmin(loss, axis=0), batch_dims=1)
        m, v = tf.zeros_like(z), tf.zeros_like(z)
        best_z, best_loss = z, tf.fill([batch], float("inf"))
        # Steps since each image last improved by z_tolerance on `mark`, its loss at that time
        # (the first step always counts).
        stale, mark = tf.zeros([batch], tf.int32), tf.fill([batch], float("inf"))
        b1, b2, eps = self.z_beta1, 0.999, 1e-8
        patience = self.z_patience or steps + 1

        def step(t, z, m, v, best_z, best_loss, stale, mark):
            with tf.GradientTape() as tape:
                tape.watch(z)
                contextual, prior, _ = self.search_losses(z, target, weights)
                loss = contextual + self.lam * prior
                total = tf.reduce_sum(loss)  # images are independent: one gradient for all
            better = loss < best_loss
            gained = tf.math.is_inf(mark) | (loss < mark * (1.0 - self.z_tolerance))
            stale, mark = tf.where(gained, 0, stale + 1), tf.where(gained, loss, mark)
            best_z = tf.where(better[:, None], z, best_z)
            best_loss = tf.where(better, loss, best_loss)
            g = tape.gradient(total, z)
            t1 = tf.cast(t + 1, tf.float32)
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * tf.square(g)
            z = z - self.z_lr * (m / (1 - b1 ** t1)) / (tf.sqrt(v / (1 - b2 ** t1)) + eps)
            return t + 1, z, m, v, best_z, best_loss, stale, mark

        _, z, _, _, best_z, best_loss, _, _ = tf.while_loop(
            lambda t, *a: (t < steps) & (tf.reduce_min(a[-2]) < patience), step,
            (tf.constant(0), z, m, v, best_z, best_loss, stale, mark))
        contextual, prior, _ = self.search_losses(z, target, weights)  # the last step counts too
        last = contextual + self.lam * prior
        better = last < best_loss
        return tf.where(better[:, None], z, best_z), tf.where(better, last, best_loss)


# Why the DCGAN has no TFLite form (tfinpaint.export adds it to the converter's error).
TFLITE_WHY = ("its fill is a per-image latent search inside the graph (a tf.while_loop over Adam "
              "steps on the gradients of the generator and discriminator, from a seeded random "
              "start): TFLite's built-in ops have no gradient ops (ReluGrad, LeakyReluGrad, "
              "StridedSliceGrad) nor stateless random normals. Serve its SavedModel instead.")


@settings
class DCGANSettings:
    latent_dim: int = setting(100, "size of z (Yeh et al.: 100)", lower=1)
    filters: int = setting(64, "the discriminator's first width and the generator's last "
                           "(doubling per block)", lower=1)
    lam: float = setting(0.1, "weight of the prior (discriminator) loss in the latent search",
                         lower=0.0, fill_only=True)
    z_lr: float = setting(0.01, "Adam learning rate of the latent search", lower=1e-12,
                          fill_only=True)
    z_beta1: float = setting(0.9, "Adam beta1 of the latent search", lower=0.0, upper=0.999999,
                             fill_only=True)
    z_steps: int = setting(300, "latent search steps per completion (most): 300 with z_patience "
                           "30 scored as 1000 steps did in a quarter of the time", lower=0,
                           fill_only=True)
    z_patience: int = setting(
        30, "end the latent search once no image's loss has improved by z_tolerance (relative) "
        "for this many steps (0: always z_steps)", lower=0, fill_only=True)
    z_tolerance: float = setting(1e-3, "relative improvement that counts for z_patience",
                                 lower=0.0, upper=1.0, fill_only=True)
    z_restarts: int = setting(1, "start the latent search from the best of this many draws per "
                              "image", lower=1, fill_only=True)
    blend: bool = setting(True, "Poisson-blend the fill into the image (Yeh et al.)",
                          fill_only=True)
    diff_augment: bool = setting(True, "training: DiffAugment (colour, translation, cutout) "
                                 "of the real and fake images both players see")
    val_search_steps: int = setting(
        0, "latent search steps that complete the validation images every epoch, so that "
        "validation reports val_hole_psnr (the tuner's default objective; lam acts only in the "
        "search); 0 = validate the GAN losses only", lower=0, fill_only=True)


@register("dcgan", DCGANSettings, tflite=TFLITE_WHY, learning_rate=2e-4, beta_1=0.5,
          dataset="faces64", hole_fraction=0.5, eval_holes="center", eval_images=100, epochs=25)
def build_dcgan(s, hole_size, image_size, seed, hp=None):
    s = dataclasses.replace(s, lam=hparams.log_float(hp, "lam", 0.003, 1.0, s.lam))
    return DCGAN(dcgan_generator(image_size, s.latent_dim, s.filters),
                 dcgan_discriminator(image_size, s.filters), s, seed=seed,
                 hole_size=hole_size, fixed_size=image_size, name="dcgan")
