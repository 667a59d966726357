"""Settings declared once: a config is Config's defaults + the method's + overrides; every flag
is defined once (tfinpaint/flags.py) and `tuner.search` offers every data, training and model
flag of `tfinpaint.main`, with the same help."""
import dataclasses
import inspect
import os
import re
import subprocess
import sys

import pytest

from helpers import ROOT
from tfinpaint import config, models
from tfinpaint.models.registry import INPUTS, settings_table
from tfinpaint.utils import ConfigError

# The only flags one command has and the other has not. A flag added to tfinpaint.main (in any
# module) and not to tuner.search, or the other way round, fails the test below.
MAIN_ONLY = {"mode", "model", "image", "mask", "hole", "output",  # --mode=inpaint
             "eval_images", "eval_holes", "classical", "samples",  # the protocol evaluation
             "model_dir", "init_from", "checkpoint_every_steps", "sample_every"}  # the run folder
TUNER_ONLY = {"tuner", "max_trials", "objective", "directory", "project_name"}


def helpfull(module):
    """{flag name: its --helpfull block (help, default, type)} of `python -m module`."""
    out = subprocess.run([sys.executable, "-m", module, "--helpfull"], cwd=ROOT, text=True,
                         capture_output=True, timeout=300,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    blocks, name = {}, None
    for line in out.stdout.splitlines():
        match = re.match(r"  (?:-\S+,)?--(?:\[no\])?(\w+):(?: |$)", line)  # long: wrapped
        if match:
            name = match.group(1)
            blocks[name] = line.strip()
        elif name and line.startswith("    "):
            blocks[name] += " " + line.strip()
        else:
            name = None
    assert "method" in blocks, out.stdout[-2000:] + out.stderr[-2000:]
    return blocks


@pytest.fixture(scope="module")
def helps():
    return helpfull("tfinpaint.main"), helpfull("tuner.search")


def test_tuner_lists_every_data_training_and_model_flag_of_main(helps):
    main, tuner = helps
    assert MAIN_ONLY <= set(main) and TUNER_ONLY <= set(tuner)
    assert set(main) - MAIN_ONLY == set(tuner) - TUNER_ONLY, (
        sorted(set(main) - MAIN_ONLY - set(tuner)), sorted(set(tuner) - TUNER_ONLY - set(main)))
    for name in set(main) - MAIN_ONLY:
        assert main[name] == tuner[name], name  # the same help, default and type
    from tfinpaint import flags as tfflags

    shared = {spec[1] for group in tfflags.SHARED for spec in tfflags.specs(group)}
    assert shared <= set(tuner) and not shared & (MAIN_ONLY | TUNER_ONLY)
    for group in ("data", "training", "model"):  # the flags the issue names, all shared
        assert {spec[1] for spec in tfflags.specs(group)} <= shared


def test_helpfull_shows_every_methods_defaults(helps):
    main, _ = helps
    for method in models.METHODS.values():
        for f in dataclasses.fields(method.settings):  # model flags: each method's default
            assert re.search(rf"\b{method.name}\b", main[f.name]), (method.name, main[f.name])
        for name in method.defaults:  # training defaults the method replaces
            assert re.search(rf"\b{method.name}\b", main[name]), (method.name, main[name])
    assert re.search(r"\(default: 10; .*context_encoder.*: 20; .*dcgan: 25", main["epochs"])
    assert "ae, conv, cvae, ffc, gan" in main["known_weight"]
    assert "in the range [0.0, 1.0]" in main["known_weight"]


def test_make_layers_config_method_and_overrides():
    dcgan = config.make("dcgan")
    assert (dcgan.epochs, dcgan.dataset, dcgan.hole_fraction, dcgan.eval_images,
            dcgan.learning_rate, dcgan.beta_1) == (25, "faces64", 0.5, 100, 2e-4, 0.5)
    assert dcgan.model == models.get("dcgan").settings()  # every setting at its default
    assert dcgan.model_dir == os.path.join("runs", "dcgan")
    gan = config.make("gan", epochs=3, filters=8, learning_rate=None, classical=["mean"])
    assert (gan.epochs, gan.model.filters, gan.model.d_filters) == (3, 8, 64)
    assert gan.learning_rate == 2e-4 and gan.classical == ("mean",)  # None: not given
    assert config.make("conv").known_weight == 0.1 and config.make("ae_patch").known_weight == 0


@pytest.mark.parametrize("method,overrides,message", [
    ("context_encoder", dict(kernel_size=3), "context_encoder has no setting --kernel_size; its "
                                             "settings are --filters, --bottleneck"),
    ("conv", dict(known_weight=1.5), r"known_weight must be in \[0.0, 1.0\], got 1.5"),
    ("conv", dict(filters=0), "filters must be at least 1, got 0"),
    ("conv", dict(filters="8"), "filters must be an integer, got '8'"),
    ("gan", dict(generator="resnet"), "generator must be one of conv, ae"),
    ("conv", dict(precision="float8"), "precision must be one of"),
    ("conv", dict(classical=("mean", "magic")), r"unknown classical methods \['magic'\]"),
    ("dcgan", dict(export_format="tflite"), "dcgan cannot be exported to TFLite"),
    ("conv", dict(export_format="tflite", precision="mixed_bfloat16"), "needs float32 layers"),
])
def test_make_refuses_what_cannot_work(method, overrides, message):
    with pytest.raises(ConfigError, match=message):
        config.make(method, **overrides)


@pytest.mark.parametrize("method", sorted(models.METHODS))
def test_builders_take_only_what_they_use(method):
    """A builder's parameters are its settings and some INPUTS, each used in its body; every
    setting is read (by the builder, or by the model it hands the settings `s` whole); every
    setting has its help; the method's defaults are Config fields."""
    spec = models.get(method)
    source = inspect.getsource(spec.builder)
    body = source[source.index(":\n"):]
    params = list(inspect.signature(spec.builder).parameters)
    for p in params[1:]:
        assert p in INPUTS and re.search(rf"\b{p}\b", body), (method, p)
    if re.search(r"[(,]\s*s\s*[,)]", body):  # the model takes the settings: its module reads them
        body = inspect.getsource(inspect.getmodule(spec.builder))
    for f in dataclasses.fields(spec.settings):
        assert f"s.{f.name}" in body, (method, f.name)
        assert f.metadata["help"], (method, f.name)
    assert set(spec.defaults) <= set(config.FIELDS) - {"method"}
    settings_table()  # shared settings agree on type and bounds (one flag each)


def test_old_run_folders_compare_on_the_settings_they_were_trained_with():
    old = {"method": "conv", "image_size": 32, "hole_size": 12, "model_kwargs": {"filters": 16}}
    new = dataclasses.replace(config.make("conv", filters=16), image_size=32, hole_size=12)
    assert config.architecture_changes(old, new) == []
    other = dataclasses.replace(config.make("conv"), image_size=32, hole_size=12)
    assert config.architecture_changes(old, other) == ["filters: 16 there, 64 now"]
    import json

    assert config.architecture_changes(json.loads(new.to_json()), new) == []


def test_fill_only_settings_may_change_on_a_trained_run():
    import json

    trained = dataclasses.replace(config.make("dcgan", filters=32), image_size=64, hole_size=32)
    old = json.loads(trained.to_json())
    search = dataclasses.replace(config.make("dcgan", filters=32, z_steps=200, z_patience=50,
                                             lam=0.3, blend=False, z_restarts=8),
                                  image_size=64, hole_size=32)
    assert config.architecture_changes(old, search) == []
    wider = dataclasses.replace(config.make("dcgan", filters=64), image_size=64, hole_size=32)
    assert config.architecture_changes(old, wider) == ["filters: 32 there, 64 now"]


def test_weightless_settings_may_change_for_a_warm_start_only():
    """ffc's decoder upsampling and its loss weights shape no weight: a warm start (--init_from,
    a fine-tune) may change them, resuming or evaluating a run may not (its training or its
    fills would change)."""
    import json

    old = json.loads(dataclasses.replace(config.make("ffc", upsample="nearest"), image_size=256,
                                         hole_size=96).to_json())
    new = dataclasses.replace(config.make("ffc", upsample="bilinear", adversarial_weight=0.03,
                                          feature_weight=0.2, r1_gamma=0.0),
                              image_size=256, hole_size=96)
    assert config.architecture_changes(old, new, weights_only=True) == []
    assert config.architecture_changes(old, new) == [
        "adversarial_weight: 0.01 there, 0.03 now", "feature_weight: 1.0 there, 0.2 now",
        "r1_gamma: 0.001 there, 0.0 now", "upsample: nearest there, bilinear now"]
    wider = dataclasses.replace(config.make("ffc", filters=32), image_size=256, hole_size=96)
    assert config.architecture_changes(old, wider, weights_only=True) == [
        "filters: 24 there, 32 now"]


def test_the_registry_and_constants_do_not_import_the_config():
    """No cycle: tfinpaint.config imports the registry, never the other way round, and the
    constants module imports nothing."""
    import subprocess
    import sys

    code = ("import sys, tfinpaint.constants; assert not [m for m in sys.modules "
            "if m.startswith(('tensorflow', 'keras'))]; import tfinpaint.models; "
            "assert 'tfinpaint.config' not in sys.modules, 'imported the config'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("xla, expected", [("auto", None), ("off", False), ("on", True)])
def test_xla_setting_reaches_the_compiled_training_step(xla, expected, cars):
    """--xla: auto is Keras' choice, off on CPU-only machines (slower there: README, Speed)."""
    import tensorflow as tf

    from tfinpaint import build

    if expected is None:
        expected = bool(tf.config.list_physical_devices("GPU"))

    cfg = config.make("conv", xla=xla, depth=1, filters=4).resolve(cars)
    assert build.model(cfg).jit_compile is expected


def test_capabilities_are_declared_where_methods_register():
    """Which methods take only compact holes, cannot become TFLite or sample is read from the
    registry (`register(..., hole_shapes=, tflite=, sampler=)`), not from lists elsewhere; a
    method name registers once; capabilities are not Config defaults."""
    from tfinpaint import export
    from tfinpaint.data import holes
    from tfinpaint.models import registry
    from tfinpaint.models.supervised import ConvSettings, build_conv

    specs = models.METHODS.values()
    assert holes.COMPACT_ONLY_METHODS == tuple(m.name for m in specs if m.hole_shapes == "compact")
    assert holes.FREEFORM_METHODS == tuple(m.name for m in specs if m.hole_shapes == "freeform")
    assert {"ae_patch", "cvae_patch", "context_encoder"} <= set(holes.COMPACT_ONLY_METHODS)
    assert holes.NOT_COMPACT == holes.not_compact_message()
    assert export.TFLITE_UNSUPPORTED == {m.name: m.tflite for m in specs if m.tflite}
    assert "ReluGrad" in export.TFLITE_UNSUPPORTED["dcgan"]
    assert {"cvae", "cvae_patch"} <= set(registry.names(sampler=True))
    assert "cvae, cvae_patch" in dict((f.name, f) for f in dataclasses.fields(config.Config))[
        "samples"].metadata["help"]
    assert not set(registry.CAPABILITIES) & set(config.FIELDS)  # never a method's default
    with pytest.raises(TypeError, match="'conv' is registered twice"):
        registry.register("conv", ConvSettings)(build_conv)
    assert models.get("conv").builder is build_conv
    with pytest.raises(TypeError, match="hole_shapes must be one of"):
        registry.register("x", ConvSettings, hole_shapes="square")
    with pytest.raises(TypeError, match="tflite must be None or why"):
        registry.register("x", ConvSettings, tflite=True)
    with pytest.raises(TypeError, match="not capabilities"):
        registry.names(holes="compact")
    assert "x" not in models.METHODS
