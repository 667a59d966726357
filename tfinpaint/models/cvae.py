"""Conditional VAEs of thesis section 3.3 (Tables 3.4-3.6): `cvae` (whole image) and
`cvae_patch` (hole only, on the window round the hole like `ae_patch`).

The encoder reads the 4-channel masked input and gives the mean and log-variance of the latent;
a sample (reparameterisation, seeded noise) is concatenated with the flattened location map and
decoded. Loss = reconstruction + kl_weight * KL. Filling uses the mean; `sample()` draws several
different fills for one hole.

kl_weight defaults to 1e-6: the reconstruction term is a per-pixel mean and the KL a sum over the
latent, so this is the ELBO of a Gaussian decoder with sigma = sqrt(kl_weight * H * W * 3 / 2),
about 0.04 at 32x32. At 1e-4 the KL wins in a few steps and the decoder ignores z (the blurry
collapse the thesis reports); at 1e-6 and 1e-5 the latent keeps the image's content.
"""
import keras
import tensorflow as tf
from keras import layers

from tfinpaint import distribute, losses
from tfinpaint.models import hparams
from tfinpaint.models.base import Inpainter, composite, model_input
from tfinpaint.models.layers import batch_norm, output_conv
from tfinpaint.models.registry import register, setting, settings
from tfinpaint.utils import ConfigError


def cvae_encoder(size, filters=(32, 64, 128, 256), kernel_size=3, latent_dim=1024):
    """Table 3.4 (four stride-2 3x3 convs, ReLU, BatchNorm but the last) + Table 3.5 (mean and
    log-variance from the flattened 2x2x256 at 32x32)."""
    x = inputs = keras.Input((size, size, 4), name="input")
    for i, f in enumerate(filters):
        x = layers.Conv2D(f, kernel_size, strides=2, padding="same", activation="relu",
                          name=f"conv{i + 1}")(x)
        if i < len(filters) - 1:
            x = batch_norm(name=f"bn{i + 1}")(x)
    x = layers.Flatten()(x)
    mean = layers.Dense(latent_dim, dtype="float32", name="mean")(x)  # KL in float32
    log_var = layers.Dense(latent_dim, dtype="float32", name="log_var")(x)
    return keras.Model(inputs, [mean, log_var], name="cvae_encoder")


def cvae_decoder(size, out_size, up_filters=(256, 128, 64, 32), kernel_size=3, latent_dim=1024):
    """Table 3.5's concatenation of z with the flattened location map, reshaped to a grid, then
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
    for i, f in enumerate(up_filters):
        x = layers.Conv2DTranspose(f, kernel_size, strides=2, padding="same", activation="relu",
                                   name=f"deconv{i + 1}")(x)
    return keras.Model([z, location], output_conv(x, kernel_size, "sigmoid", "out"),
                       name="cvae_decoder")


class CVAE(Inpainter):
    TRACKED = ("loss", "reconstruction", "kl")  # loss = reconstruction + kl_weight * kl

    def __init__(self, encoder, decoder, kl_weight=1e-6, seed=None, **kwargs):
        super().__init__(None, seed=seed, **kwargs)
        self.encoder, self.decoder, self.kl_weight = encoder, decoder, kl_weight
        self.noise = keras.random.SeedGenerator(seed)

    @property
    def latent_dim(self):
        return self.encoder.outputs[0].shape[-1]

    def forward(self, images, masks, training=False, noise=None):
        """Fill, mean and log-variance; `noise` (None: use the mean) is the standard normal
        draw of the reparameterisation."""
        x, restore = self.prepare(model_input(images, masks), masks)
        mean, log_var = self.encoder(x, training=training)
        log_var = tf.clip_by_value(log_var, -16.0, 8.0)  # keeps exp() finite early in training
        z = mean if noise is None else mean + tf.exp(0.5 * log_var) * noise
        return restore(self.decoder([z, x[..., 3:]], training=training)), mean, log_var

    def fill(self, images, masks, training=False):
        return self.forward(images, masks, training)[0]

    def sample(self, images, masks, samples, seed):
        """`samples` different composited fills per image: [B, samples, H, W, 3]. The same seed
        (int32 [2]) gives the same fills."""
        noise = tf.random.stateless_normal([samples, tf.shape(images)[0], self.latent_dim], seed)
        fills = tf.map_fn(lambda n: composite(images, self.forward(images, masks, False, n)[0], masks),
                          noise)
        return tf.transpose(fills, [1, 0, 2, 3, 4])

    def losses_for(self, images, masks, training):
        noise = distribute.normal([tf.shape(images)[0], self.latent_dim], self.noise) \
            if training else None
        fills, mean, log_var = self.forward(images, masks, training, noise)
        reconstruction = self.reconstruction_loss(images, fills, masks)
        kl = tf.reduce_mean(losses.kl_divergence(mean, log_var))
        return fills, dict(loss=reconstruction + self.kl_weight * kl,
                           reconstruction=reconstruction, kl=kl)

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
    return (hparams.choice(hp, "latent_dim", (256, 512, 1024, 2048), latent_dim),
            hparams.log_float(hp, "kl_weight", 1e-7, 1e-4, kl_weight),
            hparams.choice(hp, "kernel_size", hparams.KERNELS, kernel_size))


@settings
class CVAESettings:
    latent_dim: int = setting(1024, "latent size (thesis: 1024)", lower=1)
    kl_weight: float = setting(1e-6, "weight of the KL term (1e-6 keeps the latent informative; "
                               "see the module docstring)", lower=0.0)
    kernel_size: int = setting(3, hparams.KERNEL_HELP, lower=1)
    filters: int = setting(32, hparams.WIDTHS_HELP, lower=1)


@register("cvae", CVAESettings, known_weight=0.1)
def build_cvae(s, hole_size, image_size, known_weight, loss, seed, hp=None):
    latent_dim, kl_weight, kernel_size = _search(hp, s.latent_dim, s.kl_weight, s.kernel_size)
    filters = hparams.widths(s.filters)
    encoder = cvae_encoder(image_size, filters, kernel_size, latent_dim)
    decoder = cvae_decoder(image_size, image_size, tuple(reversed(filters)), kernel_size,
                           latent_dim)
    return CVAE(encoder, decoder, kl_weight, hole_size=hole_size, fixed_size=image_size,
                known_weight=known_weight, loss=loss, seed=seed, name="cvae")


@register("cvae_patch", CVAESettings)
def build_cvae_patch(s, hole_size, known_weight, loss, seed, hp=None):
    """The same networks on the 2p x 2p window round the hole, decoding only the p x p patch."""
    patch = -(-hole_size // 4) * 4
    latent_dim, kl_weight, kernel_size = _search(hp, s.latent_dim, s.kl_weight, s.kernel_size)
    filters = hparams.widths(s.filters)
    encoder = cvae_encoder(2 * patch, filters, kernel_size, latent_dim)
    decoder = cvae_decoder(2 * patch, patch, (filters[-1], filters[-2]), kernel_size, latent_dim)
    return CVAE(encoder, decoder, kl_weight, hole_size=hole_size, patch_size=patch,
                known_weight=known_weight, loss=loss, seed=seed, name="cvae_patch")
