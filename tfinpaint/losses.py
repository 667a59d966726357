"""Reconstruction losses restricted to, or weighted towards, the hole."""
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
