"""The settings of one run, declared once.

`Config`'s fields carry their help, bounds and choices (`tfinpaint.flags` makes the flags from
them); a method replaces some defaults where it is registered (`@register("dcgan", ...,
epochs=25)`) and holds its architecture settings in its own dataclass (`cfg.model`).

    cfg = config.make("gan", epochs=5, filters=32)   # Config + gan's defaults + these
    cfg = cfg.resolve(splits)                        # + what depends on the data: sizes, steps
"""
import dataclasses
import json
import os

from tfinpaint import models
from tfinpaint import precision as policies
from tfinpaint.constants import (BUILD_DEFAULTS, CLASSICAL, CLASSICAL_CHOICES, COMPACT_FILL,
                                 DISTRIBUTE, FREEFORM, HOLE_KINDS, HOLES, LOSSES, PRECISIONS)
from tfinpaint.models.registry import check, names, setting
from tfinpaint.utils import ConfigError

# Settings that define the network's weights: a model_dir trained with others cannot resume.
ARCHITECTURE_KEYS = ("method", "image_size", "hole_size", "model")


def _data(default, help, **kw):
    return setting(default, help, group="data", **kw)


def _training(default, help, **kw):
    return setting(default, help, group="training", **kw)


@dataclasses.dataclass
class Config:
    method: str = _training("conv", "Inpainting method (tuner.search: the method whose settings "
                            "are searched).", choices=tuple(sorted(models.METHODS)))
    # --- data
    dataset: str = _data("cifar10_cars", "cifar10_cars, cifar10, faces64, photos (the data "
                         "directory's photos/train and photos/test, random crops), "
                         "places365_small, tfds:NAME[/SPLIT], npz:PATH[:KEY] or folder:PATH "
                         "(photos of any size: random crops, at a random scale, when training).")
    data_dir: str = _data(None, "Folder searched first for <dataset>.npz files.",
                          default_text="$TFINPAINT_DATA_DIR")
    image_size: int = _data(BUILD_DEFAULTS["image_size"], "Resize images to this side.", lower=2,
                            default_text="the data's own")
    hole_size: int = _data(None, "Square hole side.", lower=1,
                           default_text="hole_fraction of the image side")
    hole_fraction: float = _data(3 / 8, "Hole side as a share of the image side, when "
                                 "--hole_size is unset (3/8: 12 at 32x32, as in the thesis).",
                                 lower=0.0, upper=1.0)
    holes: str = _data("model", "Make training holes in train_step (on the model's device) or in "
                       "the tf.data map.", choices=("model", "data"))
    mask_files: str = _data(None, "Train on masks drawn from these files (glob or folder) "
                            "instead of squares (any shape; patch methods: one compact hole "
                            "each).")
    holes_kind: str = _data(
        "square", "Training holes: square (one --hole_size square per image), strokes (brush "
        "strokes: random walks with random widths), blotches (ellipses and boxes), freeform "
        "(strokes and blotches), mixed (per image, a square or a freeform mask), or the photo "
        "families thin, medium, thick (LaMa's evaluation masks, sized for the image; their own "
        "areas, not --hole_area_*) and photo (one of the three per image). Patch methods "
        f"({', '.join(names(hole_shapes='compact'))}) take square only.", choices=HOLE_KINDS)
    hole_area_min: float = _data(0.1, "Free-form holes (--holes_kind other than square): the "
                                 "smallest hole area, as a share of the image.",
                                 lower=0.01, upper=0.75)
    hole_area_max: float = _data(0.4, "Free-form holes: the largest hole area, as a share of "
                                 "the image.", lower=0.01, upper=0.75)
    augment: bool = _data(True, "Random horizontal flips when training.")
    val_fraction: float = _data(0.1, "Share of the training images held out for validation "
                                "(the last ones).", lower=0.01, upper=0.9)
    max_train_images: int = _data(None, "Train on the first N training images only.", lower=1)
    # --- training
    epochs: int = _training(10, "Total epochs (a resumed run trains up to this many; "
                            "tuner.search: per trial, hyperband: the most a trial gets).",
                            lower=1)
    steps_per_epoch: int = _training(None, "Training steps per epoch.", lower=1,
                                     default_text="one pass over the training images")
    batch_size: int = _training(64, "Batch size per replica: each step trains on batch_size x "
                                "replicas images (the global batch; replicas = 1 without "
                                "--distribute).", lower=1)
    distribute: str = _training(
        "none", "tf.distribute strategy: none (one device), mirrored (this machine's GPUs, or its "
        "logical CPUs with --logical_cpus), multi_worker (several machines, each told its place "
        "by the TF_CONFIG environment variable), tpu (see --tpu).", choices=DISTRIBUTE)
    tpu: str = _training(None, "--distribute=tpu: the TPU's name or grpc:// address.",
                         default_text="the local one")
    learning_rate: float = _training(1e-3, "Adam learning rate (tuner.search: the default of "
                                     "the searched one).", lower=1e-12)
    beta_1: float = _training(0.9, "Adam beta1.", lower=0.0, upper=0.999999)
    lr_schedule: str = _training("cosine", "Learning-rate schedule: cosine decay to 0 over all "
                                 "the training steps, or constant.", choices=("cosine", "constant"))
    known_weight: float = _training(
        BUILD_DEFAULTS["known_weight"], "Loss weight of known pixels relative to hole pixels "
        "(which weigh 1): 0 = hole only, 1 = plain MSE over the image.", lower=0.0, upper=1.0)
    loss: str = _training(BUILD_DEFAULTS["loss"], "Reconstruction loss.", choices=LOSSES)
    precision: str = _training(
        "float32", "Training precision through Keras dtype policies; auto = bfloat16 on CPUs "
        "with native bf16 (AVX512_BF16/AMX), float16 on GPUs that support it, else float32.",
        choices=PRECISIONS)
    xla: str = _training(
        "auto", "XLA compilation of the training step (jit_compile): auto = Keras' choice, off on "
        "CPU-only machines (where XLA measured 0.42-0.93x the speed without it on two 2-core "
        "CPUs: docs/evaluation.md, Speed) and on with a GPU; on; off.",
        choices=("auto", "on", "off"))
    seed: int = _training(0, "Random seed (weights, data order, holes, noise; tuner.search: the "
                          "search too).")
    # --- evaluation (tfinpaint.main)
    eval_images: int = setting(1000, "Test images scored by the protocol.", lower=1,
                               group="evaluation")
    eval_holes: str = setting("random", "Protocol holes: random (seeded) or center squares, or "
                              "the free-form protocol's fixed masks: freeform_10_20, "
                              "freeform_30_40 (hole area 10-20% / 30-40% of the image).",
                              choices=HOLES, group="evaluation")
    classical: tuple = setting(CLASSICAL, "Classical methods scored beside the model (empty for "
                               "none).", group="evaluation")
    samples: int = setting(1, f"Methods that sample ({', '.join(names(sampler=True))}): fills "
                           "drawn per image in samples.png.", lower=1, group="evaluation")
    # --- the run folder (tfinpaint.main)
    model_dir: str = setting(None, "Run folder.", group="run", default_text="runs/<method>")
    init_from: str = setting(None, "Start a new run from the weights of another run folder's "
                             "latest checkpoint (warm start or fine-tuning: the same method and "
                             "settings; fully convolutional methods at any --image_size; the "
                             "optimizer, epochs and learning-rate schedule start afresh); "
                             "pretrained:NAME fine-tunes the shipped model NAME (its generator; "
                             "the discriminator starts afresh). ffc: more --blocks than "
                             "the weights have deepens them (extra blocks start near the "
                             "identity).",
                             group="run")
    checkpoint_every_steps: int = setting(200, "Also checkpoint every N training steps (a killed "
                                          "run resumes from the last one, mid-epoch); 0: at "
                                          "epoch ends only.", lower=0, group="run")
    sample_every: int = setting(0, "Also write <model_dir>/samples/step_N.png every N training "
                                "steps (0: off).", lower=0, group="run")
    # --- export
    export_dir: str = setting(None, "Export base folder: versions go to <export_dir>/<method>/<N>.",
                              group="export", default_text="<model_dir>/export; tuner.search: "
                              "serving/models")
    export_format: str = setting("savedmodel", "savedmodel (TF Serving layout) or tflite.",
                                 choices=("savedmodel", "tflite"), group="export")
    # The method's architecture settings (its settings dataclass; see make).
    model: object = None

    def resolve(self, splits, replicas=1):
        """The config with what depends on the data filled in (image and hole size, steps per
        epoch) and checked. `replicas`: the strategy's num_replicas_in_sync (batch_size is per
        replica)."""
        self.check()
        cfg = dataclasses.replace(self, image_size=splits.image_size)
        cfg.hole_size = self.hole_size or max(1, round(cfg.image_size * self.hole_fraction))
        if not 1 <= cfg.hole_size < cfg.image_size:
            raise ConfigError(f"hole size {cfg.hole_size} does not fit {cfg.image_size}x"
                              f"{cfg.image_size} images: it must be at least 1 and smaller than "
                              "the image side.")
        n_train = splits.sizes.get("train")
        if self.max_train_images:
            n_train = min(n_train or self.max_train_images, self.max_train_images)
        global_batch = cfg.batch_size * replicas
        if n_train is not None and global_batch > n_train:
            per = f" ({cfg.batch_size} per replica x {replicas} replicas)" if replicas > 1 else ""
            raise ConfigError(f"batch size {global_batch}{per} is larger than the {n_train} "
                              "training images.")
        if cfg.steps_per_epoch is None:
            if n_train is None:
                raise ConfigError(f"{self.dataset} does not say how many images it has; pass "
                                  "--steps_per_epoch.")
            cfg.steps_per_epoch = n_train // global_batch
        return cfg

    def check(self):
        check(self, dataclasses.fields(self))
        unknown = [c for c in self.classical if c not in CLASSICAL_CHOICES]
        if unknown:
            raise ConfigError(f"unknown classical methods {unknown}; choose from "
                              f"{list(CLASSICAL_CHOICES)}.")
        if self.hole_area_min > self.hole_area_max:
            raise ConfigError(f"hole_area_min ({self.hole_area_min}) is larger than "
                              f"hole_area_max ({self.hole_area_max}).")
        free = [f"--holes_kind={self.holes_kind}"] if self.holes_kind != "square" else []
        free += [f"--eval_holes={self.eval_holes}"] if self.eval_holes in FREEFORM else []
        method = models.get(self.method)  # its capabilities, declared where it is registered
        if free and method.hole_shapes == "compact":
            raise ConfigError(
                f"{' and '.join(free)}: {self.method} is a patch method: it fills one compact "
                f"hole per image (its pixels fill at least {COMPACT_FILL:.0%} of its bounding "
                "box), not free-form holes. Methods that train on and fill free-form holes: "
                f"{', '.join(names(hole_shapes='freeform'))}.")
        if self.export_format == "tflite" and method.tflite:
            raise ConfigError(f"--export_format=tflite: {self.method} cannot be exported to "
                              f"TFLite: {method.tflite}")
        if self.export_format == "tflite" and policies.resolve(self.precision) != "float32":
            raise ConfigError("--export_format=tflite needs float32 layers (TFLite's built-in "
                              f"ops), not --precision={self.precision}: train with it, then "
                              "export with --mode=export --precision=float32 "
                              "--export_format=tflite (the checkpoint is the same).")
        if self.model is None or not isinstance(self.model, method.settings):
            raise ConfigError(f"the config of {self.method} needs its settings: make it with "
                              "tfinpaint.config.make.")

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True, default=list)


FIELDS = tuple(f.name for f in dataclasses.fields(Config) if f.metadata)


def default(name):
    """Config's own default for field `name` (before any method's)."""
    return Config.__dataclass_fields__[name].default


def make(method="conv", **overrides):
    """The full config of `method`: Config's defaults, replaced by the method's, replaced by
    `overrides` (None: not given) of Config fields or of the method's settings (e.g.
    `filters=8`). Checked; the data-dependent fields stay None until `resolve`."""
    spec = models.get(method)
    given = {k: tuple(v) if isinstance(v, list) else v
             for k, v in overrides.items() if v is not None}
    values = {**spec.defaults, **{k: v for k, v in given.items() if k in FIELDS}}
    settings = spec.make_settings(**{k: v for k, v in given.items() if k not in FIELDS})
    cfg = Config(**{**values, "method": method, "model": settings})
    cfg.model_dir = cfg.model_dir or os.path.join("runs", method)
    cfg.export_dir = cfg.export_dir or os.path.join(cfg.model_dir, "export")
    cfg.check()
    return cfg


def architecture_changes(old, cfg, weights_only=False):
    """What differs between a run folder's config.json (`old`, a dict) and `cfg` in the
    settings that shape the weights, as ["key: A there, B now", ...]. (Older config.json files
    hold only the settings given, as `model_kwargs`: the method's defaults fill the rest.)
    `weights_only`: only what changes the weights' shapes (a warm start)."""
    new = json.loads(cfg.to_json())
    if "model" not in old and old.get("method") in models.METHODS:
        defaults = dataclasses.asdict(models.get(old["method"]).settings())
        old = {**old, "model": {**json.loads(json.dumps(defaults, default=list)),
                                **old.get("model_kwargs", {})}}
    changes = [f"{k}: {old.get(k)} there, {new.get(k)} now" for k in ARCHITECTURE_KEYS
               if k != "model" and old.get(k) != new.get(k)]
    if not changes:  # the same method: compare its settings one by one (but the fill-only)
        there, now = old.get("model") or {}, new["model"]
        ignored = {f.name for f in dataclasses.fields(cfg.model) if f.metadata["fill_only"]
                   or (weights_only and f.metadata["weightless"])}
        changes = [f"{k}: {there.get(k)} there, {now.get(k)} now" for k in sorted({*there, *now})
                   if there.get(k) != now.get(k) and k not in ignored]
    return changes


def _check_registrations():
    """Every method's training defaults are Config fields, and no setting shadows one."""
    for spec in models.METHODS.values():
        settings = {f.name for f in dataclasses.fields(spec.settings)}
        not_fields = set(spec.defaults) - (set(FIELDS) - {"method"})
        if not_fields or settings & set(FIELDS):
            raise TypeError(f"{spec.name}: {sorted(not_fields)} are not Config fields, or "
                            f"settings {sorted(settings & set(FIELDS))} shadow Config fields.")


_check_registrations()
