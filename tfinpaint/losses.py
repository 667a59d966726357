"""Reconstruction losses restricted to, or weighted towards, the hole, and the adversarial
losses the adversarial methods (`tfinpaint.models.base.Adversarial`) are made of.

The adversarial losses take the discriminators' raw outputs: logits for the non-saturating (BCE)
pair, scores for the least-squares pair. Each is a mean over every output (a PatchGAN's map too)
and, like every loss here, the value of one replica: never divided by the replica count
(`Inpainter.minimize` does that for the gradients), so the logged values are unscaled."""
import tensorflow as tf


def masked_reconstruction(images, fills, masks, known_weight=0.0, kind="mse"):
    """Weighted mean error of `fills` against `images`: hole pixels weigh 1 and known pixels
    `known_weight` in [0, 1], continuously from 0 (the hole only: the patch loss of thesis section
    3.2.1, 1/n^2 sum (R - R_hat)^2 over the n x n hole) to 1 (the whole image alike, the thesis'
    plain MSE of `conv` and `ae`)."""
    error = tf.square(fills - images) if kind == "mse" else tf.abs(fills - images)
    weights = (1.0 - masks) + known_weight * masks
    channels = tf.cast(tf.shape(images)[-1], images.dtype)
    return tf.reduce_sum(error * weights) / tf.maximum(tf.reduce_sum(weights) * channels, 1.0)


def gaussian_kl(mean_q, log_var_q, mean_p=None, log_var_p=None):
    """KL(N(mean_q, exp(log_var_q)) || N(mean_p, exp(log_var_p))) per example, summed over the
    latent dimensions (diagonal Gaussians; without mean_p and log_var_p: against N(0, I))."""
    if mean_p is None:
        mean_p = log_var_p = tf.zeros_like(mean_q)
    return 0.5 * tf.reduce_sum(
        log_var_p - log_var_q - 1.0
        + (tf.exp(log_var_q) + tf.square(mean_q - mean_p)) * tf.exp(-log_var_p), axis=-1)


def bce_with_logits(labels, logits):
    """Mean binary cross-entropy of `logits` against `labels`. Custom train_steps use this, not
    `keras.losses.BinaryCrossentropy`: under tf.distribute Keras 3's loss objects already divide
    by the replica count, and the train_steps do that themselves (to log unscaled values)."""
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))


def discriminator_accuracy(logits, real):
    """Share of images a discriminator classifies right (logit > 0 = real)."""
    return tf.reduce_mean(tf.cast(logits > 0 if real else logits < 0, tf.float32))


# --- Adversarial losses ----------------------------------------------------------------------

def nonsaturating_generator(fake_logits):
    """The non-saturating generator loss (Goodfellow et al. 2014): mean -log sigmoid(D(G)) =
    mean softplus(-fake_logits), computed as the BCE of the logits against ones (the op the
    methods have always used, so their figures do not move)."""
    return bce_with_logits(tf.ones_like(fake_logits), fake_logits)


def nonsaturating_discriminator(real_logits, fake_logits, fake_weights=None):
    """The discriminator's side of that game: (BCE(real, 1) + BCE(fake, 0)) / 2, the mean of the
    two terms (the DCGAN and the completion GAN, per discriminator).

    `fake_weights` (broadcastable to `fake_logits`, in [0, 1]): the share of each fake output
    that counts as fake, the rest counting as real (LaMa's mask_as_fake_target, with the hole's
    share of each cell of a PatchGAN's map): the fake term is then BCE(fake, 1 - fake_weights).
    None: every fake output is fake."""
    fake_labels = (tf.zeros_like(fake_logits) if fake_weights is None
                   else 1.0 - tf.broadcast_to(tf.cast(fake_weights, fake_logits.dtype),
                                              tf.shape(fake_logits)))
    return (bce_with_logits(tf.ones_like(real_logits), real_logits)
            + bce_with_logits(fake_labels, fake_logits)) / 2.0


def least_squares_generator(fake_scores):
    """The least-squares (LSGAN, Mao et al. 2017) generator loss: mean (D(G) - 1)^2 (the context
    encoder's adversarial term)."""
    return tf.reduce_mean(tf.square(fake_scores - 1.0))


def least_squares_discriminator(real_scores, fake_scores):
    """The least-squares discriminator loss: (mean (D(x) - 1)^2 + mean D(G)^2) / 2."""
    return (tf.reduce_mean(tf.square(real_scores - 1.0))
            + tf.reduce_mean(tf.square(fake_scores))) / 2.0


def r1_penalty(discriminator_fn, real_images, gamma=1.0, with_outputs=False):
    """The R1 gradient penalty (Mescheder et al. 2018): gamma / 2 * E[||grad_x D(x)||^2] over
    real images, added to a discriminator loss.

    `discriminator_fn(images)` returns a discriminator's outputs (logits or scores of any shape
    [B, ...]; or a list of them, for several discriminators: their penalties add up). All of an
    image's outputs count (the gradient of their sum, as for a PatchGAN's map). The gradient is
    taken on a tape nested in the caller's, so the penalty is differentiable with respect to the
    discriminator's weights when computed under the discriminator's tape; it works in graph mode
    (inside train_step) and under mixed precision (outputs and gradients are taken in float32).
    It runs the discriminator once more on `real_images` (with dropout or BatchNorm in training
    mode: another draw or moving-average update); `with_outputs=True` returns (penalty,
    outputs), so a loss can use those outputs instead of another pass."""
    x = tf.convert_to_tensor(real_images)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        outputs = discriminator_fn(x)
        parts = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        sums = [tf.reduce_sum(tf.cast(o, tf.float32)) for o in parts]
    squares = []
    for total in sums:
        grads = tf.cast(tape.gradient(total, x), tf.float32)
        axes = list(range(1, grads.shape.rank))
        squares.append(tf.reduce_mean(tf.reduce_sum(tf.square(grads), axis=axes)))
    del tape
    penalty = 0.5 * gamma * tf.add_n(squares)
    return (penalty, outputs) if with_outputs else penalty


def feature_matching(real_features, fake_features):
    """Feature matching (Salimans et al. 2016; pix2pixHD): the mean over layers of the mean L1
    distance between a discriminator's feature maps on real and on generated images (lists of
    tensors, one per layer, in the same order). A generator loss: the real features are
    constants (stop_gradient), so no gradient reaches the discriminator through them."""
    if len(real_features) != len(fake_features) or not real_features:
        raise ValueError("feature_matching needs as many real as fake feature maps (at least "
                         f"one), got {len(real_features)} and {len(fake_features)}.")
    return tf.add_n([
        tf.reduce_mean(tf.abs(tf.cast(tf.stop_gradient(r), tf.float32) - tf.cast(f, tf.float32)))
        for r, f in zip(real_features, fake_features)]) / float(len(real_features))
