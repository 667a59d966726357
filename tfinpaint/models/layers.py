"""Idioms the method modules share: normalisation, patch sides, [-1, 1] images, conv stacks."""
import keras
from keras import layers

# Keras' default BatchNormalization momentum (0.99) averages the batch statistics over ~100
# steps with a start at mean 0 / variance 1: after a short training (tuner trials, a 3-epoch run
# of 70 steps) the moving statistics still lag far behind the weights, and inference-mode figures
# fall 3-4 dB below training-mode ones on the same weights. 0.9 (PyTorch's default) follows the
# weights within ~20 steps; fully trained models are unchanged (README, "Exported = trained").
BN_MOMENTUM = 0.9


def batch_norm(name=None):
    return layers.BatchNormalization(momentum=BN_MOMENTUM, name=name)


def patch_side(hole_size):
    """The side of the patch a patch method predicts: the hole size rounded up to a multiple of 4
    (two stride-2 transposed convs bring the bottleneck back to it)."""
    return -(-hole_size // 4) * 4


def to_signed(images):
    """[0, 1] -> [-1, 1] (the tanh range the GAN-family networks work in)."""
    return 2.0 * images - 1.0


def to_unit(images):
    """[-1, 1] -> [0, 1]."""
    return (images + 1.0) / 2.0


def conv_stack(x, filters, kernels, out_activation, out_name):
    """Stride-1 'same' ReLU convs of `filters` channels, one per kernel size in `kernels` but the
    last, which sizes the 3-channel output layer (thesis Tables 3.1 and 3.7)."""
    for i, k in enumerate(kernels[:-1]):
        x = layers.Conv2D(filters, k, padding="same", activation="relu", name=f"conv{i + 1}")(x)
    return output_conv(x, kernels[-1], out_activation, out_name)


def output_conv(x, kernel_size, activation, name):
    """The 3-channel output layer: float32 under mixed precision, so fills, losses and metrics
    stay float32."""
    return layers.Conv2D(3, kernel_size, padding="same", activation=activation, dtype="float32",
                         name=name)(x)


def dense_logit(x, name="logit"):
    """A discriminator's dense logit, float32 under mixed precision."""
    return layers.Dense(1, dtype="float32", name=name)(keras.layers.Flatten()(x))
