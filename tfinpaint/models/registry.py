"""Method registry: each method is declared once, next to its builder.

    @settings
    class ConvSettings:                                   # the architecture: one field per setting
        depth: int = setting(4, "conv layers before the output conv (Table 3.1: 4)", lower=1)

    @register("conv", ConvSettings, known_weight=0.1)     # + its training defaults
    def build_conv(s, hole_size, known_weight, loss, seed, hp=None): ...

A settings field is a method setting (a `--depth` flag, whose help lists every method's default).
The keyword arguments of `register` replace `tfinpaint.config.Config` defaults for this method,
but three, which declare what the method can do (`Method`'s capabilities, read by the config
checks, the hole makers' messages and the exporters instead of lists kept elsewhere):
`hole_shapes` ("freeform", or "compact" for patch methods that fill one compact hole and train on
squares only), `tflite` (None, or why its TFLite conversion fails) and `sampler` (True for
methods that draw several fills per image: they have `sample(images, masks, samples, seed)`).
A builder takes the settings and, by name, only the build inputs (`INPUTS`) it uses.
"""
import dataclasses
import inspect

from tfinpaint.constants import BUILD_DEFAULTS
from tfinpaint.utils import ConfigError

METHODS = {}
# What `build` can hand a builder besides its settings; each builder names those it uses.
INPUTS = ("hole_size", "image_size", "known_weight", "loss", "seed", "hp")
# `Method.hole_shapes`: any hole (free-form strokes, several holes), or one compact hole per
# image (`tfinpaint.data.holes.COMPACT_FILL`; squares in training).
HOLE_SHAPES = ("freeform", "compact")
CAPABILITIES = ("hole_shapes", "tflite", "sampler")  # `register`'s keywords that are not defaults


def setting(default, help, *, lower=None, upper=None, choices=None, group="model",
            default_text=None, fill_only=False, weightless=False):
    """A dataclass field that is a setting: its help text, bounds, choices and flag group (one
    declaration for the dataclass, the flag and the checks). `default_text` says what a None
    default means; `fill_only`: a method setting that acts only when filling (the DCGAN's
    latent search), so a trained run may be evaluated or exported with another value;
    `weightless`: a setting that shapes no weight (a loss weight; the ffc decoder's upsampling),
    so a run may start from weights trained with another value (--init_from: a fine-tune with
    other loss weights), though a run folder still resumes only with its own."""
    return dataclasses.field(default=default, metadata=dict(
        help=help, lower=lower, upper=upper, choices=choices, group=group,
        default_text=default_text, fill_only=fill_only, weightless=weightless))


def settings(cls):
    """Class decorator: a method's settings, a frozen dataclass of `setting` fields."""
    return dataclasses.dataclass(frozen=True)(cls)


@dataclasses.dataclass(frozen=True)
class Method:
    name: str
    builder: callable
    settings: type  # a dataclass whose fields are `setting`s
    defaults: dict  # Config field -> this method's default
    # Capabilities (see the module docstring):
    hole_shapes: str = "freeform"  # or "compact": a patch method (one compact hole per image)
    tflite: str = None  # None: converts to TFLite; else why it cannot (added to the error)
    sampler: bool = False  # draws several fills per image (`sample`)

    def make_settings(self, **values):
        """The method's settings with `values` (None: the default) replacing defaults."""
        own = [f.name for f in dataclasses.fields(self.settings)]
        unknown = sorted(set(values) - set(own))
        if unknown:
            raise ConfigError(f"{self.name} has no setting {', '.join('--' + u for u in unknown)}; "
                              f"its settings are {', '.join('--' + p for p in own)}.")
        made = self.settings(**{k: v for k, v in values.items() if v is not None})
        check(made, dataclasses.fields(self.settings))
        return made

    def default(self, name):
        """This method's default for Config field `name`."""
        return self.defaults.get(name, BUILD_DEFAULTS[name])


def register(name, settings_class, *, hole_shapes="freeform", tflite=None, sampler=False,
             **defaults):
    """Decorator: registers its builder as method `name` with its settings dataclass, its
    capabilities and its Config defaults (see the module docstring). A name registers once."""
    if not dataclasses.is_dataclass(settings_class):
        raise TypeError(f"{name}: settings must be a dataclass, got {settings_class!r}")
    if hole_shapes not in HOLE_SHAPES:
        raise TypeError(f"{name}: hole_shapes must be one of {HOLE_SHAPES}, got {hole_shapes!r}")
    if tflite is not None and not (isinstance(tflite, str) and tflite):
        raise TypeError(f"{name}: tflite must be None or why the TFLite conversion fails, got "
                        f"{tflite!r}")
    if not isinstance(sampler, bool):
        raise TypeError(f"{name}: sampler must be True or False, got {sampler!r}")

    def wrap(builder):
        if name in METHODS:
            raise TypeError(f"method {name!r} is registered twice: by "
                            f"{METHODS[name].builder.__module__}.{METHODS[name].builder.__name__} "
                            f"and by {builder.__module__}.{builder.__name__}")
        params = list(inspect.signature(builder).parameters)
        extra = sorted(set(params[1:]) - set(INPUTS))
        if extra:
            raise TypeError(f"{builder.__name__} takes {extra}: a builder takes its settings, "
                            f"then only some of {INPUTS}")
        METHODS[name] = Method(name, builder, settings_class, dict(defaults), hole_shapes,
                               tflite, sampler)
        return builder
    return wrap


def registered():
    """Every method, in registration order, once every method module is imported (for modules
    imported before them, such as tfinpaint.data.holes, which the methods import)."""
    import tfinpaint.models  # noqa: F401  (imports, so registers, every method)

    return tuple(METHODS.values())


def names(**capabilities):
    """The names of the registered methods with these capabilities (e.g. hole_shapes="compact",
    sampler=True), in registration order."""
    unknown = sorted(set(capabilities) - set(CAPABILITIES))
    if unknown:
        raise TypeError(f"{unknown} are not capabilities; they are {CAPABILITIES}")
    return tuple(m.name for m in registered()
                 if all(getattr(m, k) == v for k, v in capabilities.items()))


def get(name):
    if name not in METHODS:
        raise ConfigError(f"Unknown method {name!r}; choose one of: {', '.join(sorted(METHODS))}.")
    return METHODS[name]


def build(name, hole_size, *, image_size=None, known_weight=None, loss=None, seed=None, hp=None,
          **settings):
    """Builds method `name` (uncompiled); None takes the method's default. `settings`: the
    method's own (a ConfigError names those it does not have)."""
    method = get(name)
    inputs = dict(hole_size=hole_size, seed=seed, hp=hp,
                  image_size=image_size or method.default("image_size"),
                  known_weight=method.default("known_weight") if known_weight is None
                  else known_weight,
                  loss=loss or method.default("loss"))
    params = inspect.signature(method.builder).parameters
    if inputs["image_size"] is None and "image_size" in params \
            and params["image_size"].default is inspect.Parameter.empty:
        raise ConfigError(f"{name} builds for one image size: pass image_size.")
    return method.builder(method.make_settings(**settings),
                          **{k: v for k, v in inputs.items() if k in params})


def check(values, fields):
    """ConfigError unless every field's value has its type and lies in its bounds and choices."""
    for f in fields:
        value, meta = getattr(values, f.name), f.metadata
        if value is None or not meta:
            continue
        kind = f.type if f.type in (int, float, bool, str, tuple) else None
        if kind and not _has_type(value, kind):
            raise ConfigError(f"{f.name} must be {_KINDS[kind]}, got {value!r}.")
        if meta.get("choices") is not None and value not in meta["choices"]:
            raise ConfigError(f"{f.name} must be one of {', '.join(map(str, meta['choices']))}, "
                              f"got {value!r}.")
        low, high = meta.get("lower"), meta.get("upper")
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"in [{low}, {high}]" if low is not None and high is not None else \
                f"at least {low}" if low is not None else f"at most {high}"
            raise ConfigError(f"{f.name} must be {bounds}, got {value}.")


_KINDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string",
          tuple: "a list"}


def _has_type(value, kind):
    if kind in (int, float):
        return isinstance(value, int if kind is int else (int, float)) \
            and not isinstance(value, bool)
    return isinstance(value, kind)


def settings_table():
    """Every method setting: name -> (field of the first method declaring it, [(method, field)]);
    a TypeError if two methods declare one name with another type, bounds or choices (they
    share one flag)."""
    table = {}
    for method in METHODS.values():
        for f in dataclasses.fields(method.settings):
            first, users = table.setdefault(f.name, (f, []))
            same = first.type == f.type and all(first.metadata[k] == f.metadata[k]
                                                for k in ("lower", "upper", "choices"))
            if not same:
                raise TypeError(f"setting {f.name!r} of {method.name} differs in type, bounds or "
                                f"choices from {users[0][0]}'s: they share one flag.")
            users.append((method.name, f))
    return table
