"""The completion GAN of thesis section 3.4: a generator fills the hole, a local discriminator
(Table 3.8) judges a window round the filled hole (GLCIC-style; `global_discriminator=True` adds
one on the whole image), and the generator minimises alpha * BCE(D(G)) + (1 - alpha) * MSE.

Images are in [-1, 1] inside the GAN (tanh generator); fills come back in [0, 1] like every
other method. The reconstruction term is the shared hole-weighted loss: the thesis' formula masks
it to the known pixels, which the composited output never shows, so we weight the hole instead.
"""
import keras
import tensorflow as tf
from keras import layers

from tfinpaint.losses import (discriminator_accuracy as accuracy, nonsaturating_discriminator,
                              nonsaturating_generator)
from tfinpaint.models import hparams
from tfinpaint.models.base import Adversarial, hole_window
from tfinpaint.models.layers import dense_logit, output_conv, patch_side, to_signed, to_unit
from tfinpaint.models.supervised import conv_net
from tfinpaint.models.registry import register, setting, settings
from tfinpaint.utils import ConfigError


def conv_generator(depth=6, filters=64, kernel_size=5, hp=None):
    """Table 3.7: six 5x5 conv + ReLU layers of 64, then a 5x5 conv + tanh (searched with hp)."""
    return conv_net(depth=depth, filters=filters, kernel_size=kernel_size, name="generator", hp=hp,
                    activation="tanh", out_name="out", depths=(3, 8))


def ae_generator(filters=(64, 64, 64, 64), kernel_size=5):
    """The autoencoder generator the thesis tried first: 4 stride-2 5x5 convs, 4 stride-2 5x5
    transposed convs (ReLU), then a conv + tanh."""
    x = inputs = keras.Input((None, None, 4), name="input")
    for i, f in enumerate(filters):
        x = layers.Conv2D(f, kernel_size, strides=2, padding="same", activation="relu",
                          name=f"conv{i + 1}")(x)
    for i, f in enumerate(reversed(filters)):
        x = layers.Conv2DTranspose(f, kernel_size, strides=2, padding="same", activation="relu",
                                   name=f"deconv{i + 1}")(x)
    return keras.Model(inputs, output_conv(x, kernel_size, "tanh", "out"), name="generator")


def discriminator(size, filters=64, kernel_size=3, dropout=0.3, name="discriminator"):
    """Table 3.8: a valid 3x3 conv, four stride-2 3x3 convs (ReLU), flatten, dropout, dense. The
    sigmoid of the table is applied inside the loss (from_logits) for numerical stability."""
    x = inputs = keras.Input((size, size, 3), name="image")
    x = layers.Conv2D(filters, kernel_size, padding="valid", activation="relu", name="conv1")(x)
    for i in range(4):
        x = layers.Conv2D(filters, kernel_size, strides=2, padding="same", activation="relu",
                          name=f"conv{i + 2}")(x)
    return keras.Model(inputs, dense_logit(layers.Dropout(dropout)(x)), name=name)


class CompletionGAN(Adversarial):
    """Alternating updates (`Adversarial`'s order): the discriminators on real and filled
    images, then the generator, filling again, against the updated discriminators."""

    def __init__(self, generator, local_discriminator, global_discriminator, alpha, **kwargs):
        super().__init__(generator, [d for d in (local_discriminator, global_discriminator) if d],
                         **kwargs)
        self.local_d, self.global_d, self.alpha = local_discriminator, global_discriminator, alpha
        self.window = local_discriminator.input_shape[1] // 2

    def fill(self, images, masks, training=False):
        x, restore = self.prepare(tf.concat([to_signed(images) * masks, masks], -1), masks)
        return to_unit(restore(self.net(x, training=training)))

    def judge(self, images, masks, training):
        """Discriminator logits for images in [0, 1]: the local one on the window round the
        hole, plus the global one on the whole image if there is one."""
        x = to_signed(images)
        window, _ = hole_window(x, masks, self.window, self.hole_size)
        logits = [self.local_d(window, training=training)]
        if self.global_d is not None:
            logits.append(self.global_d(x, training=training))
        return logits

    def discriminator_loss(self, images, fake, masks):
        """Non-saturating, on the real and the filled images; summed over the discriminators."""
        real_logits = self.judge(images, masks, training=True)
        fake_logits = self.judge(fake, masks, training=True)
        d_loss = tf.add_n([nonsaturating_discriminator(r, f)
                           for r, f in zip(real_logits, fake_logits)])
        return d_loss, dict(d_acc_real=accuracy(real_logits[0], True),
                            d_acc_fake=accuracy(fake_logits[0], False))

    def generator_loss(self, images, fills, fake, masks):
        """alpha * adversarial (non-saturating, summed over the discriminators) + (1 - alpha) *
        the reconstruction loss."""
        adversarial = tf.add_n([nonsaturating_generator(f)
                                for f in self.judge(fake, masks, training=True)])
        reconstruction = self.reconstruction_loss(images, fills, masks)
        g_loss = self.alpha * adversarial + (1.0 - self.alpha) * reconstruction
        return g_loss, dict(loss=reconstruction, adversarial=adversarial)


@settings
class GANSettings:
    generator: str = setting("conv", "conv: the Table 3.7 generator; ae: the autoencoder one the "
                             "thesis tried first", choices=("conv", "ae"))
    depth: int = setting(6, "conv + ReLU layers of the conv generator before its output conv "
                         "(Table 3.7: 6)", lower=1)
    filters: int = setting(64, "width of the conv generator's layers (Table 3.7: 64)", lower=1)
    kernel_size: int = setting(5, hparams.KERNEL_HELP, lower=1)
    alpha: float = setting(0.001, hparams.ALPHA_HELP, lower=0.0, upper=1.0,
                           weightless=True)
    global_discriminator: bool = setting(False, "add a whole-image discriminator (the model then "
                                         "takes one image size)")
    d_filters: int = setting(64, "discriminator width (Table 3.8: 64)", lower=1)
    d_dropout: float = setting(0.3, "dropout before the discriminator's dense layer",
                               lower=0.0, upper=1.0)


@register("gan", GANSettings, known_weight=0.1, learning_rate=2e-4, beta_1=0.5)
def build_gan(s, hole_size, known_weight, loss, seed, image_size=None, hp=None):
    """`image_size`: needed only with the global discriminator."""
    if s.global_discriminator and not image_size:
        raise ConfigError("gan --global_discriminator takes one image size: pass image_size.")
    window = patch_side(hole_size)
    alpha = hparams.choice(hp, "alpha", hparams.ALPHAS, s.alpha)
    net = conv_generator(s.depth, s.filters, s.kernel_size, hp=hp) if s.generator == "conv" \
        else ae_generator(kernel_size=s.kernel_size)
    local_d = discriminator(2 * window, s.d_filters, dropout=s.d_dropout,
                            name="local_discriminator")
    global_d = discriminator(image_size, s.d_filters, dropout=s.d_dropout,
                             name="global_discriminator") if s.global_discriminator else None
    return CompletionGAN(net, local_d, global_d, alpha, hole_size=hole_size,
                         known_weight=known_weight, loss=loss, seed=seed,
                         fixed_size=image_size if s.global_discriminator else None,
                         size_multiple=16 if s.generator == "ae" else 1, name="gan")
