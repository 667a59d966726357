"""Every command-line flag, defined once, for `tfinpaint.main`, `tuner.search` and the benchmarks.

The data, training, evaluation, run and export flags are made from `tfinpaint.config.Config`'s
fields (name, help, bounds, choices); the model flags from the methods' settings dataclasses (one
flag per name; its help gives each method's meaning and default). A field that a method gives
its own default (`@register("dcgan", ..., epochs=25)`) has no flag default: its help lists the
methods' defaults and an unset flag takes the method's. A command defines the groups it uses:

    define(*MAIN)        # tfinpaint.main        define(*TUNER)   # tuner.search
    cfg = config_from_flags()
"""
import dataclasses

from absl import flags

from tfinpaint import config, models
from tfinpaint.models.registry import settings_table

FLAGS = flags.FLAGS

SHARED = ("data", "training", "model", "export")  # every command that trains
MAIN = SHARED + ("evaluation", "run", "main")
TUNER = SHARED + ("tuner",)

# Flags that are not settings of a run: (group, type, name, default, help, bounds or choices).
OTHER = [
    ("training", int, "logical_cpus", 0, "Split the CPU into this many logical devices, so "
     "--distribute=mirrored can run several replicas without GPUs (0: as found).",
     dict(lower=0)),
    ("main", str, "mode", "all", "all = train, then evaluate on the protocol, then export.",
     dict(choices=("train", "evaluate", "export", "all", "inpaint"))),
    ("main", str, "model", None, "inpaint: SavedModel folder (a version, or its parent).", {}),
    ("main", str, "image", None, "inpaint: an image file or a folder of images.", {}),
    ("main", str, "mask", None, "inpaint: mask file (white or transparent = hole), or a folder "
     "of masks named like the images.", {}),
    ("main", str, "hole", None, "inpaint: x,y,size of a square hole instead of --mask.", {}),
    ("main", str, "output", None, "inpaint: output PNG file (or folder for a folder of images).",
     {}),
    ("tuner", str, "tuner", "random", "Search algorithm.",
     dict(choices=("random", "bayesian", "hyperband"))),
    ("tuner", int, "max_trials", 8, "Trials (random, bayesian).", dict(lower=1)),
    ("tuner", str, "objective", "val_hole_psnr", "Reported metric to optimise (val_hole_psnr, "
     "val_psnr, val_ssim are maximised; losses and L1 minimised).", {}),
    ("tuner", str, "directory", "tuner_runs", "Where keras-tuner keeps its trials.", {}),
    ("tuner", str, "project_name", None, "Search name (default: the method).", {}),
]


def _fmt(value):
    if isinstance(value, tuple):
        return ",".join(map(str, value)) or "none"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _by_value(pairs):
    """[(method, value)] -> "a, b: 1; c: 2" (methods grouped by value, alphabetical)."""
    groups = {}
    for method, value in sorted(pairs):
        groups.setdefault(_fmt(value), []).append(method)
    return "; ".join(f"{', '.join(ms)}: {v}" for v, ms in groups.items())


def _config_specs(group):
    for f in dataclasses.fields(config.Config):
        if f.metadata.get("group") != group:
            continue
        meta, text = f.metadata, f.metadata["help"]
        own = [(m.name, m.defaults[f.name]) for m in models.METHODS.values()
               if f.name in m.defaults]
        if own or meta["default_text"]:
            text += f" (default: {meta['default_text'] or _fmt(f.default)}"
            text += f"; {_by_value(own)})" if own else ")"
        yield (f.type, f.name, None if own else f.default, text,
               {k: meta[k] for k in ("lower", "upper", "choices")})


def _model_specs():
    for name, (first, users) in sorted(settings_table().items()):
        meanings = {}  # help text -> [(method, default)]
        for method, f in users:
            meanings.setdefault(f.metadata["help"], []).append((method, f.default))
        text = " ".join(
            f"{', '.join(sorted(m for m, _ in pairs))}: {meaning} (default: "
            + (_fmt(pairs[0][1]) if len({_fmt(d) for _, d in pairs}) == 1 else _by_value(pairs))
            + ")." for meaning, pairs in sorted(meanings.items(), key=lambda kv: min(kv[1])))
        yield (first.type, name, None, text,
               {k: first.metadata[k] for k in ("lower", "upper", "choices")})


def specs(group):
    """The flags of `group`: [(type, name, default, help, {lower, upper, choices})]."""
    if group == "model":
        return list(_model_specs())
    return list(_config_specs(group)) + [(kind, name, default, text, dict(extra))
                                         for g, kind, name, default, text, extra in OTHER
                                         if g == group]


DEFINED = set()  # the flags defined here (a program may define others of its own)


def define(*groups, only=None, exclude=()):
    """Defines the flags of `groups` (those not defined yet; `only`/`exclude`: by name)."""
    for group in groups:
        for kind, name, default, text, extra in specs(group):
            if name in FLAGS or name in exclude or (only is not None and name not in only):
                continue
            DEFINED.add(name)
            lower, upper, choices = extra.get("lower"), extra.get("upper"), extra.get("choices")
            if choices is not None:
                flags.DEFINE_enum(name, default, list(choices), text)
            elif kind is int:
                flags.DEFINE_integer(name, default, text, lower_bound=lower, upper_bound=upper)
            elif kind is float:
                flags.DEFINE_float(name, default, text, lower_bound=lower, upper_bound=upper)
            elif kind is bool:
                flags.DEFINE_boolean(name, default, text)
            elif kind is tuple:
                flags.DEFINE_list(name, None if default is None else list(default), text)
            else:
                flags.DEFINE_string(name, default, text)


def config_from_flags(values=FLAGS, method=None, **unset):
    """The config of `method` (default --method) from the flags defined here: flags left unset
    take the method's defaults, or `unset`'s values (a command's own, e.g. the tuner's
    export_dir)."""
    names = [n for n in (*config.FIELDS, *settings_table())
             if n in DEFINED and n in values and n != "method"]
    given = {n: values[n].value for n in names}
    given.update({k: v for k, v in unset.items() if given.get(k) is None})
    return config.make(method or values["method"].value, **given)
