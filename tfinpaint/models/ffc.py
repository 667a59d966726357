"""`ffc`: a photo inpainter in LaMa's design (Suvorov et al. 2022), sized for two CPU cores.

The thesis' networks see a hole through a receptive field of a few dozen pixels; on a photograph
a hole wider than that is filled from its border inward as a smear. A fast Fourier convolution
(FFC) block sees the whole image: its channels split into a local branch (3x3 convs) and a
global branch whose spectral transform takes the real 2-D FFT of the feature map, mixes the
stacked real and imaginary parts with a 1x1 conv and transforms back, so every output pixel
depends on every input pixel, at any image size.

Generator: the 4-channel input (RGB with the hole zeroed, mask), a 7x7 conv, three stride-2 3x3
convs (to 1/8 resolution, 8 x `filters` channels, of which `global_ratio` global), `blocks`
residual FFC blocks (two FFCs each), and a resize-conv decoder (2x upsampling + 3x3 conv, three
times: no transposed-conv checkerboard), 7x7 conv to RGB (sigmoid). The upsampling is bilinear:
with nearest, the first shipped model's wide fills carried an 8-pixel grid (the 1/8-resolution
cells); the same weights with bilinear upsampling lost most of it and 0.04 dB of hole PSNR on a
280x240 hole in kodim23 went the right way, and fine-tuning finished the job. ReLU, no
normalisation (nothing to drift between training and inference; LaMa uses BatchNorm). Fully
convolutional: inputs are padded to a multiple of 8. The FFT runs in float32 under mixed
precision (`FourierUnit` is a float32 layer: bf16 has no FFT kernel and too few mantissa bits for
a sum over the whole image).

Discriminator: a PatchGAN (strided 4x4 convs, LeakyReLU) whose logit map judges overlapping
patches of the composited image; positions inside the hole of a fake count as fake and those
outside as real (LaMa's mask_as_fake_target). Losses, LaMa's set without its segmentation-network
perceptual loss (no such pretrained network is reachable here): the reconstruction loss (L1 by
default, hole-weighted like every method), non-saturating adversarial loss, R1 penalty on real
images and discriminator feature matching.
"""
import re

import keras
import tensorflow as tf
from keras import layers

from tfinpaint import losses
from tfinpaint.models.base import Adversarial
from tfinpaint.models.layers import output_conv
from tfinpaint.models.registry import register, setting, settings


@keras.saving.register_keras_serializable(package="tfinpaint")
class FourierUnit(layers.Layer):
    """The global branch's core: real FFT over height and width (orthonormal), a 1x1 conv + ReLU
    on the stacked real and imaginary parts, inverse FFT back to the input's size. Computes in
    float32 whatever the global policy."""

    def __init__(self, filters, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.filters = filters
        self.conv = layers.Conv2D(2 * filters, 1, dtype=self.dtype_policy, name="spectral_conv")

    def build(self, input_shape):
        self.conv.build(tuple(input_shape[:-1]) + (2 * input_shape[-1],))

    def call(self, x):
        x = tf.cast(x, tf.float32)
        h, w = tf.shape(x)[1], tf.shape(x)[2]
        scale = tf.sqrt(tf.cast(h * w, tf.float32))
        spectrum = tf.signal.rfft2d(tf.transpose(x, [0, 3, 1, 2]) / scale)
        stacked = tf.concat([tf.math.real(spectrum), tf.math.imag(spectrum)], axis=1)
        y = tf.nn.relu(self.conv(tf.transpose(stacked, [0, 2, 3, 1])))
        real, imag = tf.split(tf.transpose(y, [0, 3, 1, 2]), 2, axis=1)
        out = tf.signal.irfft2d(tf.complex(real, imag), fft_length=tf.stack([h, w]))
        return tf.transpose(out * scale, [0, 2, 3, 1])

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters,)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


@keras.saving.register_keras_serializable(package="tfinpaint")
class Upsample2x(layers.Layer):
    """2x upsampling of a map of any size (Keras' UpSampling2D needs a static size for
    bilinear, which a SavedModel taking images of any size does not have)."""

    def __init__(self, interpolation="bilinear", **kwargs):
        super().__init__(**kwargs)
        self.interpolation = interpolation

    def call(self, x):
        y = tf.image.resize(x, 2 * tf.shape(x)[1:3], method=self.interpolation)
        return tf.cast(y, x.dtype)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        return n, h and 2 * h, w and 2 * w, c

    def get_config(self):
        return {**super().get_config(), "interpolation": self.interpolation}


def _conv(x, filters, kernel=3, strides=1, name=None, activation="relu"):
    return layers.Conv2D(filters, kernel, strides=strides, padding="same", activation=activation,
                         name=name)(x)


def spectral_transform(x, filters, name):
    """LaMa's SpectralTransform: 1x1 conv to half the width, x + FourierUnit(x), 1x1 conv out."""
    x = _conv(x, filters // 2, 1, name=f"{name}_in")
    fu = FourierUnit(filters // 2, name=f"{name}_fourier")(x)
    return _conv(layers.Add()([x, fu]), filters, 1, name=f"{name}_out", activation=None)


def ffc(local, global_, name):
    """One FFC: local out = conv(local) + conv(global), global out = conv(local) +
    spectral(global); ReLU on both."""
    cl, cg = local.shape[-1], global_.shape[-1]
    out_l = layers.Add()([_conv(local, cl, name=f"{name}_l2l", activation=None),
                          _conv(global_, cl, name=f"{name}_g2l", activation=None)])
    out_g = layers.Add()([_conv(local, cg, name=f"{name}_l2g", activation=None),
                          spectral_transform(global_, cg, f"{name}_g2g")])
    return layers.ReLU()(out_l), layers.ReLU()(out_g)


def ffc_generator(filters=24, blocks=6, global_ratio=0.75, upsample="bilinear", name="generator"):
    """4-channel input -> [0, 1] image; see the module's docstring."""
    x = inputs = keras.Input((None, None, 4), name="input")
    x = _conv(x, filters, 7, name="stem")
    for i in range(3):
        x = _conv(x, filters * 2 ** (i + 1), strides=2, name=f"down{i + 1}")
    width = filters * 8
    cg = int(round(width * global_ratio))
    local, global_ = _conv(x, width - cg, name="split_local"), _conv(x, cg, name="split_global")
    for b in range(blocks):
        l, g = ffc(local, global_, f"block{b + 1}a")
        l, g = ffc(l, g, f"block{b + 1}b")
        local, global_ = layers.Add()([local, l]), layers.Add()([global_, g])
    x = layers.Concatenate()([local, global_])
    for i in range(3):
        x = Upsample2x(upsample)(x)
        x = _conv(x, filters * 2 ** (2 - i), name=f"up{i + 1}")
    return keras.Model(inputs, output_conv(x, 7, "sigmoid", "out"), name=name)


def patch_discriminator(filters=32, layers_=4, name="discriminator"):
    """PatchGAN on RGB images of any size: 4x4 convs, stride 2 (`layers_` - 1 times) then 1,
    LeakyReLU, a 1-channel logit map. Returns (logits, [feature maps])."""
    x = inputs = keras.Input((None, None, 3), name="image")
    features = []
    for i in range(layers_):
        x = layers.Conv2D(filters * 2 ** min(i, 3), 4, strides=2 if i < layers_ - 1 else 1,
                          padding="same", name=f"conv{i + 1}")(x)
        x = layers.LeakyReLU(0.2)(x)
        features.append(x)
    logits = layers.Conv2D(1, 4, padding="same", dtype="float32", name="logits")(x)
    return keras.Model(inputs, [logits, features], name=name)


class FFCInpainter(Adversarial):
    """The generator and a PatchGAN; see the module's docstring for the losses. One generator
    forward per step (`update_order = "one_pass"`): the discriminator is updated on the detached
    fill, then the generator trains against the updated discriminator."""

    TRACKED = Adversarial.TRACKED + ("r1", "feature_matching")
    update_order = "one_pass"

    def __init__(self, net, discriminator, s, **kwargs):
        """`s`: the FFCSettings (the loss weights)."""
        super().__init__(net, [discriminator], **kwargs)
        self.discriminator = discriminator
        self.adversarial_weight, self.feature_weight = s.adversarial_weight, s.feature_weight
        self.r1_gamma = s.r1_gamma

    def deepen_from(self, source, residual_scale=0.01):
        """Starts this generator from `source`, a generator with fewer FFC blocks and otherwise
        the same settings (a deeper network fine-tuned from a shallower one's weights): every
        layer `source` has is copied by name; each extra block copies `source`'s last block with
        its second FFC's outputs scaled by `residual_scale`, so the extra blocks start close to
        the identity (not exactly: a ReLU fed zeros passes no gradient) and the fill moves by
        about 1% of the range or less."""
        old = {layer.name: layer for layer in source.layers if layer.weights}
        last = max(int(re.match(r"block(\d+)a_", n).group(1)) for n in old
                   if re.match(r"block\d+a_", n))
        for layer in self.net.layers:
            if not layer.weights:
                continue
            match = re.match(r"block(\d+)([ab])_(.*)", layer.name)
            if layer.name in old:
                layer.set_weights(old[layer.name].get_weights())
            elif match and int(match.group(1)) > last:
                weights = old[f"block{last}{match.group(2)}_{match.group(3)}"].get_weights()
                if match.group(2) == "b" and not match.group(3).endswith(("_in", "_fourier")):
                    weights = [w * residual_scale for w in weights]
                layer.set_weights(weights)
            else:
                raise ValueError(f"cannot deepen: {layer.name!r} is not in {source.name!r}")

    def judge(self, images, training=True):
        logits, features = self.discriminator(2.0 * images - 1.0, training=training)
        return logits, features

    @staticmethod
    def hole_at(masks, logits):
        """The share of hole in each logit's cell: masks resized (area) to the logit map."""
        return 1.0 - tf.image.resize(masks, tf.shape(logits)[1:3], method="area")

    def discriminator_loss(self, images, fake, masks):
        if self.r1_gamma:  # the penalty's pass on the real images gives their logits too
            r1, real_logits = losses.r1_penalty(lambda x: self.judge(x)[0], images,
                                                self.r1_gamma, with_outputs=True)
        else:
            r1, real_logits = tf.constant(0.0), self.judge(images)[0]
        fake_logits, _ = self.judge(fake)
        hole = self.hole_at(masks, fake_logits)
        d_loss = losses.nonsaturating_discriminator(real_logits, fake_logits, fake_weights=hole)
        return d_loss + r1, dict(d_acc_real=losses.discriminator_accuracy(real_logits, True),
                                 d_acc_fake=losses.discriminator_accuracy(fake_logits, False),
                                 r1=r1)

    def generator_loss(self, images, fills, fake, masks):
        reconstruction = self.reconstruction_loss(images, fills, masks)
        fake_logits, fake_features = self.judge(fake)
        _, real_features = self.judge(images)
        adversarial = losses.nonsaturating_generator(fake_logits)
        matching = losses.feature_matching(real_features, fake_features)
        g_loss = (reconstruction + self.adversarial_weight * adversarial
                  + self.feature_weight * matching)
        return g_loss, dict(loss=reconstruction, adversarial=adversarial,
                            feature_matching=matching)


@settings
class FFCSettings:
    filters: int = setting(24, "ffc: stem width (x2, x4, x8 down the encoder; the FFC blocks at "
                           "1/8 resolution have 8x)", lower=1)
    blocks: int = setting(6, "ffc: residual FFC blocks at 1/8 resolution (LaMa: 9-18)", lower=1)
    global_ratio: float = setting(0.75, "ffc: share of the block channels in the global "
                                  "(Fourier) branch (LaMa: 0.75)", lower=0.0, upper=1.0)
    adversarial_weight: float = setting(0.01, "ffc: weight of the non-saturating adversarial "
                                        "loss beside the reconstruction loss (1)", lower=0.0,
                                        weightless=True)
    feature_weight: float = setting(1.0, "ffc: weight of discriminator feature matching",
                                    lower=0.0, weightless=True)
    r1_gamma: float = setting(0.001, "ffc: R1 penalty weight on real images (LaMa: 0.001)",
                              lower=0.0, weightless=True)
    d_filters: int = setting(32, "ffc: the PatchGAN discriminator's first width (doubling)",
                             lower=1)
    upsample: str = setting("bilinear", "ffc: the decoder's 2x upsampling before each conv "
                            "(nearest leaves an 8-pixel grid in wide fills)",
                            choices=("bilinear", "nearest"), weightless=True)


@register("ffc", FFCSettings, tflite="its inverse FFT (IRFFT2D) and complex tensors (Complex) "
          "are not TFLite built-in ops (TF Select only)", dataset="photos", holes_kind="photo",
          holes="data", loss="l1", known_weight=0.1, learning_rate=1e-3, beta_1=0.5, batch_size=8,
          epochs=20, precision="auto", eval_images=200)
def build_ffc(s, hole_size, known_weight, loss, seed):
    return FFCInpainter(ffc_generator(s.filters, s.blocks, s.global_ratio, s.upsample),
                        patch_discriminator(s.d_filters), s, hole_size=hole_size,
                        known_weight=known_weight, loss=loss, seed=seed, size_multiple=8,
                        name="ffc")
