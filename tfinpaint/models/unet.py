"""`unet`: a method beyond the thesis, for a sharper fill at the same cost class.

The thesis networks see the hole through a small receptive field (`conv`: 5 stacked 5x5 convs)
or through a bottleneck that throws away where things are (`ae`, `ae_patch`). This net keeps
both: a U-Net encoder (full, 1/2 and 1/4 resolution, skip connections back to the decoder) and a
bottleneck of residual dilated 3x3 convs (dilations 2, 4, 2, 1) whose receptive field spans the
whole 32x32 image, so every hole pixel sees all of the known context. LeakyReLU, no
normalisation (nothing to drift between training and inference), resize-conv upsampling
(no transposed-conv checkerboard). Fully convolutional: it fills any image whose sides it pads to
a multiple of 4, and any mask shape.
"""
import keras
from keras import layers

from tfinpaint.models import hparams
from tfinpaint.models.base import Inpainter
from tfinpaint.models.layers import output_conv
from tfinpaint.models.registry import register, setting, settings


def _conv(x, filters, kernel=3, strides=1, dilation=1, name=None):
    x = layers.Conv2D(filters, kernel, strides=strides, dilation_rate=dilation, padding="same",
                      name=name)(x)
    return layers.LeakyReLU(0.2)(x)


def unet(filters=32, dilations=(2, 4, 2, 1), name="unet", hp=None):
    """4-channel input -> [0, 1] image: encoder at 1, 1/2, 1/4 resolution (widths f, 2f, 4f),
    residual dilated bottleneck at 1/4, decoder with skips back up."""
    f = hparams.choice(hp, "filters", (16, 32, 48), filters)
    x = inputs = keras.Input((None, None, 4), name="input")
    e1 = _conv(_conv(x, f, 5, name="enc1a"), f, name="enc1b")
    e2 = _conv(_conv(e1, 2 * f, strides=2, name="enc2a"), 2 * f, name="enc2b")
    x = _conv(_conv(e2, 4 * f, strides=2, name="enc3a"), 4 * f, name="enc3b")
    for i, d in enumerate(dilations):
        x = layers.Add()([x, _conv(x, 4 * f, dilation=d, name=f"dilated{i + 1}")])
    for level, (skip, width) in enumerate(((e2, 2 * f), (e1, f))):
        x = layers.UpSampling2D(interpolation="nearest")(x)
        x = _conv(layers.Concatenate()([x, skip]), width, name=f"dec{level + 1}a")
        x = _conv(x, width, name=f"dec{level + 1}b")
    return keras.Model(inputs, output_conv(x, 3, "sigmoid", "out"), name=name)


@settings
class UNetSettings:
    filters: int = setting(32, "unet: width at full resolution (f, 2f, 4f down the encoder)",
                           lower=1)


@register("unet", UNetSettings, known_weight=0.1, learning_rate=2e-3, epochs=40)
def build_unet(s, hole_size, known_weight, loss, seed, hp=None):
    return Inpainter(unet(s.filters, hp=hp), hole_size=hole_size, known_weight=known_weight,
                     loss=loss, seed=seed, size_multiple=4, name="unet")
