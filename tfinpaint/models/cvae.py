"""Conditional VAEs of thesis section 3.3 (Tables 3.4-3.6): `cvae` (whole image, 32x32) and
`cvae_patch` (hole only, on the window round the hole like `ae_patch`), made to draw fills that
differ, as a conditional VAE in the sense of Sohn et al. (2015, "Learning Structured Output
Representation using Deep Conditional Generative Models") with the two paths of Zheng et al.
(2019, "Pluralistic Image Completion"):

- prior network p(z | context): the Table 3.4 encoder + Table 3.5 heads on the 4-channel masked
  input (what the model sees at inference). Its conv features at the decoder's grid side (3x3x128
  for cvae_patch, 2x2x256 for cvae) are the context the decoder reads besides z.
- recognition network q(z | complete): the same layers on the complete window (RGB, hole
  included) + the location map. Training only: no fill, sample or export signature calls it.
- decoder (Table 3.5's concatenation, Table 3.6): z ++ flattened location map -> grid, the prior's
  features joined to the grid, -> transposed convs -> sigmoid fill.

Loss = reconstruction(decoder(z ~ q)) + kl_weight * KL(q || p)
       + mean_weight * reconstruction(decoder(mean of p)).
The last term is the deterministic path: the default fill (the decoder at the prior mean) is
trained as a plain supervised fill, while the draws z ~ p, which the KL keeps where q puts the
real holes' codes, give the different fills of `sample()`. Logged: `loss`, `reconstruction` (the
z ~ q path), `kl`, `mean_reconstruction` (the prior mean's), with the same meaning in validation
(the truth is known there too; q's draw uses fixed noise there, so `val_loss` compares across
epochs); `hole_psnr` & co. score the default fill.

Defaults, measured with benchmarks/cvae_diversity.py (cvae_patch, 1000 test cars, 4 draws;
benchmarks/results/cvae_diversity_sweep.json: 2-epoch runs; cvae_diversity.json: 30 epochs):
- latent_dim 16, not the thesis' 1024. With 1024 latents q spreads what it knows thinly over
  every dimension (posterior variance ~1, mean offsets from the prior of 0.2-0.4 per dimension)
  and the decoder averages over dimensions; the diagonal prior matches q's spread dimension by
  dimension, but its independent draws mostly cancel in that average: draws hardly differ
  (diversity 0.018-0.022 at kl_weight 1e-6 to 3e-5). 32 and 16 latents leave q no room to
  spread so: diversity 0.036 and 0.042 at the same default-fill PSNR after 2 epochs.
- kl_weight 1e-4 (about the ELBO of a Gaussian decoder with sigma 0.15 on the 12x12x3 patch
  mean). 3e-4 with 32 latents, and 1e-4 with 1024, collapse the KL to ~0 (the prior's features
  give the average fill and z is dropped; diversity 0.013 and 0.007); 1e-5 keeps more nats
  (27 vs 8) without more diversity.
- mean_weight 1: after 2 epochs the default fill is 0.06 dB better with the deterministic path
  than without (16.32 vs 16.26 dB), diversity 0.036 vs 0.039.
After 30 epochs: default fill 17.51 dB hole PSNR, diversity 0.100, best of 4 draws 17.39 dB; the
old design below, trained alike: 16.91 dB, 0.003, 16.95 dB.
The old design (one encoder on the masked input, q = p, decoder on z and the location map) needed
kl_weight 1e-6 to keep z informative, and then its posterior was nearly a point: every draw was
the same fill.
"""
import keras
import tensorflow as tf
from keras import layers

from tfinpaint import distribute
from tfinpaint.losses import gaussian_kl
from tfinpaint.models import hparams
from tfinpaint.models.base import Inpainter, composite, model_input
from tfinpaint.models.layers import batch_norm, output_conv, patch_side
from tfinpaint.models.registry import register, setting, settings
from tfinpaint.utils import ConfigError

LOG_VAR_RANGE = (-16.0, 8.0)  # keeps exp() finite early in training


def cvae_encoder(size, filters=(32, 64, 128, 256), kernel_size=3, latent_dim=1024,
                 name="cvae_encoder", context_side=None):
    """Table 3.4 (four stride-2 3x3 convs, ReLU, BatchNorm but the last) + Table 3.5 (mean and
    log-variance from the flattened 2x2x256 at 32x32), on a 4-channel input. `context_side`:
    also output the conv features of that side (the decoder's context)."""
    x = inputs = keras.Input((size, size, 4), name="input")
    maps = {}
    for i, f in enumerate(filters):
        x = layers.Conv2D(f, kernel_size, strides=2, padding="same", activation="relu",
                          name=f"conv{i + 1}")(x)
        if i < len(filters) - 1:
            x = batch_norm(name=f"bn{i + 1}")(x)
        maps.setdefault(x.shape[1], x)
    flat = layers.Flatten()(x)
    mean = layers.Dense(latent_dim, dtype="float32", name="mean")(flat)  # KL in float32
    log_var = layers.Dense(latent_dim, dtype="float32", name="log_var")(flat)
    if context_side is None:
        return keras.Model(inputs, [mean, log_var], name=name)
    if context_side not in maps:
        raise ConfigError(f"the encoder has no {context_side}x{context_side} features for the "
                          f"decoder (its sides: {sorted(maps, reverse=True)}).")
    return keras.Model(inputs, [mean, log_var, maps[context_side]], name=name)


def cvae_decoder(size, out_size, up_filters=(256, 128, 64, 32), kernel_size=3, latent_dim=1024,
                 context_channels=0):
    """Table 3.5's concatenation of z with the flattened location map, reshaped to a grid (the
    prior network's features of the grid's side, `context_channels` of them, joined to it), then
    Table 3.6 (stride-2 transposed convs, ReLU) and a 3x3 conv + sigmoid to out_size."""
    z = keras.Input((latent_dim,), name="z")
    location = keras.Input((size, size, 1), name="location_map")
    x = layers.Concatenate()([z, layers.Flatten()(location)])
    grid = out_size // 2 ** len(up_filters)
    if grid < 1 or grid * 2 ** len(up_filters) != out_size:
        raise ConfigError(f"a {len(up_filters)}-block decoder cannot make {out_size}x{out_size}.")
    width = (latent_dim + size * size) // (grid * grid)
    if width * grid * grid != latent_dim + size * size:  # no exact reshape: project (not in thesis)
        width = up_filters[0] * 2
        x = layers.Dense(grid * grid * width, activation="relu", name="project")(x)
    x = layers.Reshape((grid, grid, width))(x)  # 2x2x512 at 32x32 with latent 1024 (Table 3.5)
    inputs = [z, location]
    if context_channels:
        inputs.append(keras.Input((grid, grid, context_channels), name="context"))
        x = layers.Concatenate()([x, inputs[-1]])
    for i, f in enumerate(up_filters):
        x = layers.Conv2DTranspose(f, kernel_size, strides=2, padding="same", activation="relu",
                                   name=f"deconv{i + 1}")(x)
    return keras.Model(inputs, output_conv(x, kernel_size, "sigmoid", "out"), name="cvae_decoder")


def _clip(log_var):
    return tf.clip_by_value(log_var, *LOG_VAR_RANGE)


class CVAE(Inpainter):
    # loss = reconstruction + kl_weight * kl + mean_weight * mean_reconstruction
    TRACKED = ("loss", "reconstruction", "kl", "mean_reconstruction")

    def __init__(self, encoder, recognition, decoder, kl_weight, mean_weight, seed=None, **kwargs):
        """`encoder`: the prior network (masked input -> mean, log-variance, features);
        `recognition`: the recognition network (complete input -> mean, log-variance)."""
        super().__init__(None, seed=seed, **kwargs)
        self.encoder, self.recognition, self.decoder = encoder, recognition, decoder
        self.kl_weight, self.mean_weight = kl_weight, mean_weight
        self.noise = keras.random.SeedGenerator(seed)
        # Validation draws q with the same noise every epoch: a fixed key, not the generator.
        self.validation_key = (seed or 0, 2 ** 31 - 1 - distribute.LATENT)

    @property
    def latent_dim(self):
        return self.encoder.outputs[0].shape[-1]

    def prior(self, images, masks, training=False):
        """The decoder's inputs but z (location map, context), the prior's mean and log-variance,
        and the function that pastes the decoder's output back as a full-size fill."""
        x, restore = self.prepare(model_input(images, masks), masks)
        mean, log_var, context = self.encoder(x, training=training)
        return (x[..., 3:], context), mean, _clip(log_var), restore

    def decode(self, z, condition, restore, training=False):
        return restore(self.decoder([z, *condition], training=training))

    def fill(self, images, masks, training=False):
        """The default fill: the decoder at the prior mean."""
        condition, mean, _, restore = self.prior(images, masks, training)
        return self.decode(mean, condition, restore, training)

    def sample(self, images, masks, samples, seed):
        """`samples` different composited fills per image, z drawn from the prior:
        [B, samples, H, W, 3]. The same seed (int32 [2]) gives the same fills."""
        condition, mean, log_var, restore = self.prior(images, masks)
        std = tf.exp(0.5 * log_var)
        noise = tf.random.stateless_normal([samples, tf.shape(images)[0], self.latent_dim], seed)
        fills = tf.map_fn(
            lambda n: composite(images, self.decode(mean + std * n, condition, restore), masks),
            noise)
        return tf.transpose(fills, [1, 0, 2, 3, 4])

    def losses_for(self, images, masks, training):
        """The default fills and the step's scalars. Needs the truth in the hole (training and
        validation batches have it)."""
        condition, mean_p, log_var_p, restore = self.prior(images, masks, training)
        complete, _ = self.prepare(tf.concat([images, masks], axis=-1), masks)
        mean_q, log_var_q = self.recognition(complete, training=training)
        log_var_q = _clip(log_var_q)
        noise = distribute.normal(tf.shape(mean_q), self.noise) if training \
            else self.validation_noise(tf.shape(mean_q)[0])
        z = mean_q + tf.exp(0.5 * log_var_q) * noise
        # Both paths in one decoder call: the draw of q, then the prior mean.
        both = self.decoder([tf.concat([z, mean_p], 0), *[tf.concat([c, c], 0) for c in condition]],
                            training=training)
        drawn, fills = (restore(half) for half in tf.split(both, 2))
        reconstruction = self.reconstruction_loss(images, drawn, masks)
        mean_reconstruction = self.reconstruction_loss(images, fills, masks)
        kl = tf.reduce_mean(gaussian_kl(mean_q, log_var_q, mean_p, log_var_p))
        loss = reconstruction + self.kl_weight * kl + self.mean_weight * mean_reconstruction
        return fills, dict(loss=loss, reconstruction=reconstruction, kl=kl,
                           mean_reconstruction=mean_reconstruction)

    def validation_noise(self, n):
        """The noise of q's draw in validation: the same for every epoch, and the same for an
        image whether one device or several replicas score its batch (replica r of R takes rows
        r n .. (r + 1) n of one draw of R n rows; a stateless draw of fewer rows is a prefix of
        one of more)."""
        context = tf.distribute.get_replica_context()
        replicas, replica = (1, 0) if context is None else (
            context.num_replicas_in_sync, context.replica_id_in_sync_group)
        noise = tf.random.stateless_normal([n * replicas, self.latent_dim], self.validation_key)
        return noise[replica * n:(replica + 1) * n]

    def train_step(self, data):
        images, masks = self.unpack(data)
        with tf.GradientTape() as tape:
            fills, values = self.losses_for(images, masks, training=True)
        self.minimize(tape, values["loss"], self.optimizer, self.trainable_variables)
        return self.record(values, images, composite(images, fills, masks), masks, ["hole_psnr"])

    def test_step(self, data):
        images, masks = self.unpack(data)
        fills, values = self.losses_for(images, masks, training=False)
        return self.record(values, images, composite(images, fills, masks), masks,
                           list(self.image_metrics))

    def build_optimizers(self):
        self.optimizer.build(self.trainable_variables)


def _search(hp, latent_dim, kl_weight, kernel_size):
    return (hparams.choice(hp, "latent_dim", (8, 16, 32, 64, 1024), latent_dim),
            hparams.log_float(hp, "kl_weight", 1e-6, 1e-3, kl_weight),
            hparams.choice(hp, "kernel_size", hparams.KERNELS, kernel_size))


@settings
class CVAESettings:
    latent_dim: int = setting(16, "latent size (thesis: 1024; see tfinpaint/models/cvae.py)",
                              lower=1)
    kl_weight: float = setting(1e-4, "weight of KL(recognition || prior) (see "
                               "tfinpaint/models/cvae.py)", lower=0.0, weightless=True)
    mean_weight: float = setting(1.0, "weight of the deterministic path: the reconstruction of "
                                 "the default fill, decoded at the prior mean (0: plain CVAE)",
                                 lower=0.0, weightless=True)
    kernel_size: int = setting(3, hparams.KERNEL_HELP, lower=1)
    filters: int = setting(32, hparams.WIDTHS_HELP, lower=1)


def _networks(window, out_size, up_filters, filters, kernel_size, latent_dim):
    side = out_size // 2 ** len(up_filters)  # the decoder's grid
    prior = cvae_encoder(window, filters, kernel_size, latent_dim, "cvae_prior", side)
    recognition = cvae_encoder(window, filters, kernel_size, latent_dim, "cvae_recognition")
    decoder = cvae_decoder(window, out_size, up_filters, kernel_size, latent_dim,
                           prior.outputs[2].shape[-1])
    return prior, recognition, decoder


@register("cvae", CVAESettings, sampler=True, known_weight=0.1)
def build_cvae(s, hole_size, image_size, known_weight, loss, seed, hp=None):
    latent_dim, kl_weight, kernel_size = _search(hp, s.latent_dim, s.kl_weight, s.kernel_size)
    filters = hparams.widths(s.filters)
    nets = _networks(image_size, image_size, tuple(reversed(filters)), filters, kernel_size,
                     latent_dim)
    return CVAE(*nets, kl_weight, s.mean_weight, hole_size=hole_size, fixed_size=image_size,
                known_weight=known_weight, loss=loss, seed=seed, name="cvae")


@register("cvae_patch", CVAESettings, hole_shapes="compact", sampler=True)
def build_cvae_patch(s, hole_size, known_weight, loss, seed, hp=None):
    """The same networks on the 2p x 2p window round the hole, decoding only the p x p patch."""
    patch = patch_side(hole_size)
    latent_dim, kl_weight, kernel_size = _search(hp, s.latent_dim, s.kl_weight, s.kernel_size)
    filters = hparams.widths(s.filters)
    nets = _networks(2 * patch, patch, (filters[-1], filters[-2]), filters, kernel_size,
                     latent_dim)
    return CVAE(*nets, kl_weight, s.mean_weight, hole_size=hole_size, patch_size=patch,
                known_weight=known_weight, loss=loss, seed=seed, name="cvae_patch")
