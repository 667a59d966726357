"""Hyperparameters declared where the layers are made: each helper returns the default when `hp`
is None (plain training) and registers the search space on a keras-tuner `HyperParameters`
otherwise, with the thesis' value as the default."""


def choice(hp, name, values, default):
    if hp is None:
        return default
    values = sorted(set(values) | {default})
    return hp.Choice(name, values, default=default)


def log_float(hp, name, low, high, default):
    if hp is None:
        return default
    return hp.Float(name, min(low, default), max(high, default), sampling="log", default=default)


def integer(hp, name, low, high, default):
    if hp is None:
        return default
    return hp.Int(name, min(low, default), max(high, default), default=default)


KERNELS = (3, 5, 7)
# Help of the settings several methods share (one text, so their flag's help lists them together).
KERNEL_HELP = "kernel size of every conv layer (the tuner searches each layer's)"
WIDTHS_HELP = "the first block's width, doubling per block: N, 2N, 4N, 8N (Tables 3.2, 3.4: 32)"
ALPHA_HELP = "generator loss alpha x adversarial + (1 - alpha) x reconstruction"
ALPHAS = (0.0, 1e-4, 1e-3, 1e-2, 0.1, 0.5, 1.0)  # the tuner's choices for alpha


def widths(filters, blocks=4):
    """Per-block widths: a tuple as given, or from one number (`--filters`) doubling per block,
    as in the tables (32 -> 32, 64, 128, 256)."""
    if isinstance(filters, int):
        return tuple(filters * 2 ** i for i in range(blocks))
    return tuple(filters)
