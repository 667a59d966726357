"""What a config builds, for `Experiment` and `tuner.search` alike: the data splits, the compiled
model (in the config's precision) and the input pipelines."""
import keras
import numpy as np

from tfinpaint import models, precision
from tfinpaint.data import HoleMaker, eval_pipeline, load_dataset, load_masks, train_pipeline
from tfinpaint.data.holes import (COMPACT_FILL, COMPACT_ONLY_METHODS, FREEFORM_METHODS,
                                  hole_fill_ratio)
from tfinpaint.utils import ConfigError


def splits(cfg):
    """The train/val/test splits of a config (made by `config.make`)."""
    return load_dataset(cfg.dataset, cfg.data_dir, cfg.image_size, cfg.val_fraction)


def masks(cfg):
    """The bank of --mask_files masks at the resolved config's image size, or None. Any shape
    of hole is taken, except by the patch methods, which refuse a bank holding masks that are
    not one compact hole."""
    if not cfg.mask_files:
        return None
    bank = load_masks(cfg.mask_files, cfg.image_size)
    if cfg.method in COMPACT_ONLY_METHODS:
        ratio = hole_fill_ratio(bank).numpy()
        loose = np.flatnonzero(ratio < COMPACT_FILL)
        if len(loose):
            raise ConfigError(
                f"--mask_files={cfg.mask_files}: {len(loose)} of {len(bank)} masks (the first: "
                f"number {loose[0] + 1} in name order, whose hole fills {ratio[loose[0]]:.0%} of "
                f"its bounding box) are not one compact hole, and {cfg.method} is a patch method: "
                f"it fills one hole filling at least {COMPACT_FILL:.0%} of its bounding box. "
                f"Methods that train on free-form masks: {', '.join(FREEFORM_METHODS)}.")
    return bank


def hole_maker(cfg, bank=None):
    """The training holes of a resolved config: --holes_kind (squares, or free-form holes with
    an area in [hole_area_min, hole_area_max]), or masks drawn from `bank`."""
    if bank is None:
        return HoleMaker(cfg.hole_size, seed=cfg.seed, kind=cfg.holes_kind,
                         area=(cfg.hole_area_min, cfg.hole_area_max))
    return HoleMaker(cfg.hole_size, "bank", bank, seed=cfg.seed)


def model(cfg, bank=None, hp=None):
    """The compiled model of a resolved config, in its precision (`bank`: masks to train on;
    `hp`: keras-tuner HyperParameters to search)."""
    precision.apply(cfg.precision)  # before any layer is made
    built = models.build(cfg.method, cfg.hole_size, image_size=cfg.image_size,
                         known_weight=cfg.known_weight, loss=cfg.loss, seed=cfg.seed, hp=hp,
                         **vars(cfg.model))
    if bank is not None or cfg.holes_kind != "square":
        built.hole_maker = hole_maker(cfg, bank)
    lr = cfg.learning_rate
    if cfg.lr_schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(lr, cfg.epochs * cfg.steps_per_epoch)
    built.compile(optimizer=keras.optimizers.Adam(lr, beta_1=cfg.beta_1),
                  jit_compile={"auto": "auto", "on": True, "off": False}[cfg.xla])
    built.build_optimizers()
    return built


def pipelines(cfg, data, holes, replicas=1, skip=0):
    """The training and validation datasets of a resolved config, batched with the global batch
    (cfg.batch_size per replica x `replicas`; tf.distribute splits it). Training holes come from
    `holes` (a HoleMaker) in the tf.data map with --holes=data, else the model makes them. The
    training stream starts `skip` batches in (where a resumed run left it)."""
    batch = cfg.batch_size * replicas
    train = data.train.take(cfg.max_train_images) if cfg.max_train_images else data.train
    train = train_pipeline(train, batch, cfg.seed, holes if cfg.holes == "data" else None,
                           cfg.augment, skip=skip, crop=data.crop)
    val = eval_pipeline(data.val, max(batch, 100), hole_maker(cfg), cfg.seed)  # --holes_kind
    return train, val
