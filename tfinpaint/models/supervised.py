"""The supervised methods of the thesis: `conv` (Table 3.1), `ae` (Tables 3.2-3.3) and
`ae_patch` (section 3.2.1). Defaults reproduce the tables; every size is an argument so the tuner
can search them."""
import keras
from keras import layers

from tfinpaint.models import hparams
from tfinpaint.models.base import Inpainter
from tfinpaint.models.layers import batch_norm, conv_stack, output_conv, patch_side
from tfinpaint.models.registry import register, setting, settings


def _per_block(value, n):
    value = list(value) if isinstance(value, (list, tuple)) else [value] * n
    if len(value) != n:
        raise ValueError(f"expected {n} per-block values, got {value}")
    return value


def conv_net(channels_in=4, depth=4, filters=64, kernel_size=5, name="conv_net", hp=None,
             activation="sigmoid", out_name=None, depths=(2, 6)):
    """Table 3.1: `depth` conv + ReLU layers (5x5, 64, stride 1, same), then 5x5 conv + sigmoid
    (Table 3.7's GAN generator: the same with tanh). With `hp`, depth (in `depths`), width and
    each block's kernel size are searched (defaults: the table)."""
    depth = hparams.integer(hp, "depth", *depths, depth)
    filters = hparams.choice(hp, "filters", (32, 64, 96), filters)
    kernels = [hparams.choice(hp, f"kernel_size_{i + 1}", hparams.KERNELS, k)
               for i, k in enumerate(_per_block(kernel_size, depth + 1))]
    inputs = keras.Input((None, None, channels_in), name="input")
    return keras.Model(inputs, conv_stack(inputs, filters, kernels, activation,
                                               out_name or f"conv{depth + 1}"),
                       name=name)


def encoder_decoder(channels_in=4, filters=(32, 64, 128, 256), up_filters=(256, 128, 64),
                    kernel_size=3, name="autoencoder", hp=None):
    """Tables 3.2-3.3: conv 3x3 stride 1 then stride 2 blocks (ReLU + BatchNorm except the
    last), transposed convs back up, a final 3x3 conv + sigmoid. Each transposed conv doubles
    the size, so with fewer up blocks than down strides the output is smaller than the input."""
    kernels = [hparams.choice(hp, f"kernel_size_{i + 1}", hparams.KERNELS, k) for i, k in
               enumerate(_per_block(kernel_size, len(filters) + len(up_filters) + 1))]
    x = inputs = keras.Input((None, None, channels_in), name="input")
    for i, f in enumerate(filters):
        x = layers.Conv2D(f, kernels[i], strides=1 if i == 0 else 2, padding="same",
                          activation="relu", name=f"conv{i + 1}")(x)
        if i < len(filters) - 1:
            x = batch_norm(name=f"bn{i + 1}")(x)
    for j, f in enumerate(up_filters):
        x = layers.Conv2DTranspose(f, kernels[len(filters) + j], strides=2, padding="same",
                                   activation="relu", name=f"deconv{j + 1}")(x)
    return keras.Model(inputs, output_conv(x, kernels[-1], "sigmoid", f"conv{len(filters) + 1}"),
                       name=name)


def _widths(hp, filters):
    """The encoder widths, doubling from a searched first width (the tables: 32)."""
    filters = hparams.widths(filters)
    first = hparams.choice(hp, "filters", (16, 32, 48), filters[0])
    return tuple(first * 2 ** i for i in range(len(filters))) if first != filters[0] else tuple(filters)


@settings
class ConvSettings:
    depth: int = setting(4, "conv + ReLU layers before the output conv (Table 3.1: 4)", lower=1)
    filters: int = setting(64, "width of every conv layer (Table 3.1: 64)", lower=1)
    kernel_size: int = setting(5, hparams.KERNEL_HELP, lower=1)


@settings
class AESettings:
    filters: int = setting(32, hparams.WIDTHS_HELP, lower=1)
    kernel_size: int = setting(3, hparams.KERNEL_HELP, lower=1)


@register("conv", ConvSettings, known_weight=0.1)
def build_conv(s, hole_size, known_weight, loss, seed, hp=None):
    return Inpainter(conv_net(depth=s.depth, filters=s.filters, kernel_size=s.kernel_size, hp=hp),
                     hole_size=hole_size, known_weight=known_weight, loss=loss, seed=seed,
                     name="conv")


# Batch 32: twice the updates per epoch. ae learns more slowly than the patch methods; at batch
# 64 its 3-epoch run exported 16.17 dB (biharmonic 16.27), at 32 16.45 (README, short runs).
@register("ae", AESettings, known_weight=0.1, batch_size=32)
def build_ae(s, hole_size, known_weight, loss, seed, hp=None):
    filters = _widths(hp, s.filters)
    up = tuple(reversed(filters[1:]))  # 256, 128, 64 as in Table 3.3
    return Inpainter(encoder_decoder(filters=filters, up_filters=up, kernel_size=s.kernel_size,
                                     hp=hp),
                     hole_size=hole_size, known_weight=known_weight, loss=loss, seed=seed,
                     size_multiple=8, name="ae")  # 3 stride-2 convs


@register("ae_patch", AESettings, hole_shapes="compact")
def build_ae_patch(s, hole_size, known_weight, loss, seed, hp=None):
    """The Table 3.2 encoder on a 2p x 2p window round the hole, two transposed convs back to a
    p x p patch (p = hole size rounded up to a multiple of 4); loss on the patch only."""
    patch = patch_side(hole_size)
    filters = _widths(hp, s.filters)
    up = (filters[-1], filters[-2])
    net = encoder_decoder(filters=filters, up_filters=up, kernel_size=s.kernel_size,
                          name="patch_ae", hp=hp)
    return Inpainter(net, patch_size=patch, hole_size=hole_size, known_weight=known_weight,
                     loss=loss, seed=seed, name="ae_patch")
