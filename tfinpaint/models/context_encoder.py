"""Context encoder (`article_repair_damaged_images.txt`, after Pathak et al. 2016).

128x128 images with 64x64 holes by default (random holes when training, centre holes when
testing). An encoder of stride-2 4x4 convs (LeakyReLU, BatchNorm) down to 4x4, a 1x1 conv
bottleneck (4000 channels in the article), and stride-2 transposed convs (ReLU) up to the hole
patch; a PatchGAN discriminator judges real and generated patches. As in the article: generator
loss 0.001 * adversarial + 0.999 * reconstruction with a least-squares (MSE) adversarial term and
L1 reconstruction on the patch, Adam 2e-4 with beta1 0.5.

Pathak et al.'s own code uses L2 plus a 4-pixel band of known pixels round the hole weighted 10x,
to blend the seam. Here the known pixels are composited back unchanged, so a band loss would only
train pixels that are thrown away: we keep the article's L1 (`--loss=mse` gives plain L2).
"""
import keras
import tensorflow as tf
from keras import layers

from tfinpaint.losses import least_squares_discriminator, least_squares_generator
from tfinpaint.models import hparams
from tfinpaint.models.base import Adversarial, crop_patch, paste_patch
from tfinpaint.models.layers import batch_norm, output_conv, patch_side, to_signed, to_unit
from tfinpaint.models.registry import register, setting, settings
from tfinpaint.utils import ConfigError


def _doublings(size, what):
    n = size.bit_length() - 3
    if size < 8 or 4 * 2 ** n != size:
        raise ConfigError(f"context_encoder needs a power-of-two {what} of at least 8, got {size}.")
    return n


def ce_generator(size=128, patch=64, filters=64, bottleneck=4000):
    """The article's generator: 64, 64, 128, 256, 512 channels down to 4x4 (at 128x128), a 1x1
    conv to `bottleneck` channels, transposed convs 512, 256, 128, 64 up to the patch, 3x3 conv."""
    down, up = _doublings(size, "image size"), _doublings(patch, "hole size")
    widths = [filters * 2 ** max(0, i - 1) for i in range(down)]
    x = inputs = keras.Input((size, size, 4), name="input")
    for i, w in enumerate(widths):
        x = layers.Conv2D(w, 4, strides=2, padding="same", name=f"conv{i + 1}")(x)
        if i:
            x = batch_norm()(x)
        x = layers.LeakyReLU(0.2)(x)
    x = layers.LeakyReLU(0.2)(batch_norm()(layers.Conv2D(bottleneck, 1, name="bottleneck")(x)))
    for i, w in enumerate(reversed(widths[-up:])):
        x = layers.Conv2DTranspose(w, 4, strides=2, padding="same", name=f"deconv{i + 1}")(x)
        x = layers.ReLU()(batch_norm()(x))
    return keras.Model(inputs, output_conv(x, 3, "tanh", "patch"), name="generator")


def patch_discriminator(patch=64, filters=64):
    """The article's PatchGAN: 3x3 convs 64, 128, 256 (stride 2), 512, 1 (stride 1)."""
    x = inputs = keras.Input((patch, patch, 3), name="patch")
    for i, (w, s) in enumerate([(filters, 2), (2 * filters, 2), (4 * filters, 2), (8 * filters, 1)]):
        x = layers.LeakyReLU(0.2)(layers.Conv2D(w, 3, strides=s, padding="same",
                                                name=f"conv{i + 1}")(x))
    return keras.Model(inputs, layers.Conv2D(1, 3, padding="same", dtype="float32",
                                             name="score")(x), name="discriminator")


class ContextEncoder(Adversarial):
    """Both players from one forward pass per step (update_order "simultaneous"); the
    discriminator judges the hole patch (real: the image's own patch), least squares."""

    update_order = "simultaneous"

    def __init__(self, generator, discriminator, adversarial_weight, **kwargs):
        super().__init__(generator, [discriminator], **kwargs)
        self.discriminator, self.adversarial_weight = discriminator, adversarial_weight

    def patch(self, images, masks, training=False):
        """The generated hole patch, in [-1, 1]."""
        x, _ = self.prepare(tf.concat([to_signed(images) * masks, masks], -1), masks)
        return self.net(x, training=training)

    def fill(self, images, masks, training=False):
        return self.generate_fake(images, masks, training)[0]

    def generate_fake(self, images, masks, training=False):
        """The full-size fill and the generated patch (what the discriminator judges)."""
        fake = self.patch(images, masks, training)
        return to_unit(paste_patch(fake, masks, self.hole_size)), fake

    def discriminator_loss(self, images, fake, masks):
        real = crop_patch(to_signed(images), masks, self.net.output_shape[1], self.hole_size)
        real_score = self.discriminator(real, training=True)
        fake_score = self.discriminator(tf.stop_gradient(fake), training=True)
        return least_squares_discriminator(real_score, fake_score), dict(
            d_acc_real=tf.reduce_mean(tf.cast(real_score > 0.5, tf.float32)),
            d_acc_fake=tf.reduce_mean(tf.cast(fake_score < 0.5, tf.float32)))

    def generator_loss(self, images, fills, fake, masks):
        """w * adversarial (least squares) + (1 - w) * the reconstruction loss."""
        adversarial = least_squares_generator(self.discriminator(fake, training=True))
        reconstruction = self.reconstruction_loss(images, fills, masks)
        w = self.adversarial_weight
        return w * adversarial + (1.0 - w) * reconstruction, dict(loss=reconstruction,
                                                                  adversarial=adversarial)


@settings
class ContextEncoderSettings:
    filters: int = setting(64, "the encoder's first width (article: 64, 64, 128, 256, 512 "
                           "channels down to 4x4, the decoder back up)", lower=1)
    bottleneck: int = setting(4000, "bottleneck channels (article: 4000)", lower=1)
    alpha: float = setting(0.001, hparams.ALPHA_HELP, lower=0.0, upper=1.0,
                           weightless=True)
    d_filters: int = setting(64, "the PatchGAN discriminator's first width (doubling)", lower=1)


@register("context_encoder", ContextEncoderSettings, hole_shapes="compact", learning_rate=2e-4,
          beta_1=0.5, loss="l1", dataset="faces64", image_size=128, hole_fraction=0.5,
          eval_holes="center", epochs=20)
def build_context_encoder(s, hole_size, image_size, known_weight, loss, seed, hp=None):
    alpha = hparams.choice(hp, "alpha", hparams.ALPHAS, s.alpha)
    p = patch_side(hole_size)
    p = 1 << (p - 1).bit_length()  # the decoder doubles from 4x4: the next power of two
    return ContextEncoder(ce_generator(image_size, p, s.filters, s.bottleneck),
                          patch_discriminator(p, s.d_filters), alpha, hole_size=hole_size,
                          known_weight=known_weight, loss=loss, seed=seed,
                          fixed_size=image_size, name="context_encoder")
