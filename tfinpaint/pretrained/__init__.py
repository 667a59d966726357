"""Models shipped inside the package, ready to fill photos without training anything.

    import tfinpaint.pretrained as pretrained
    model = pretrained.load("photos")        # a Keras Inpainter (float32), weights checksummed
    filled = model({"image": images, "mask": masks})   # float [0, 1], any size; 1 = known pixel
    pretrained.export("photos", "exports/photos")       # a SavedModel for TF Serving

Each model is a folder `tfinpaint/pretrained/<name>/`: `generator.weights.h5` (the generator's
weights only: filling needs no discriminator), `manifest.json` (the method and its settings, the
weights' SHA-256, the command that trained them, what they were trained on and its terms) and the
training record. `package` writes such a folder from a run folder; `python -m
tfinpaint.pretrained.train_photos` is the one command that trains and packages `photos`.

Terms: `photos` was trained on the BSDS500 and ImageNet sample photographs of
shared/data/photos/train, which are for non-commercial research use; the weights inherit that.
"""
import hashlib
import json
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
WEIGHTS = "generator.weights.h5"
MANIFEST = "manifest.json"
PREFIX = "pretrained:"  # names a shipped model where a path is expected (--init_from, --models)


class PretrainedError(Exception):
    """A shipped model is missing, unknown or damaged; the message says which and what to do."""


def names():
    """The shipped models (folders holding a manifest)."""
    return sorted(d for d in os.listdir(HERE) if os.path.exists(os.path.join(HERE, d, MANIFEST)))


def folder(name):
    path = os.path.join(HERE, name)
    if not os.path.exists(os.path.join(path, MANIFEST)):
        raise PretrainedError(f"no shipped model {name!r}; the package holds {names() or 'none'}.")
    return path


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest(name):
    with open(os.path.join(folder(name), MANIFEST)) as f:
        return json.load(f)


def load(name="photos"):
    """The shipped model `name` as a Keras Inpainter, its weights checked against the manifest's
    SHA-256 first (a damaged or replaced file is refused)."""
    from tfinpaint import models

    info = manifest(name)
    weights = os.path.join(folder(name), WEIGHTS)
    if not os.path.exists(weights):
        raise PretrainedError(f"{weights} is missing: reinstall tfinpaint.")
    got = sha256(weights)
    if got != info["sha256"]:
        raise PretrainedError(f"{weights} is damaged or replaced: its SHA-256 is {got}, the "
                              f"manifest says {info['sha256']}; reinstall tfinpaint.")
    model = models.build(info["method"], info.get("hole_size", 12), seed=0, **info["settings"])
    model.net.load_weights(weights)
    return model


def export(name, base_dir, version=None):
    """A SavedModel of the shipped model `name`, with every signature, in TF Serving's layout
    (`<base_dir>/<version>`); returns the version folder."""
    from tfinpaint import export as exporter

    return exporter.export(load(name), base_dir, version=version)


def package(model_dir, name, command=None, data=None):
    """Writes `tfinpaint/pretrained/<name>/` from run folder `model_dir` (its latest checkpoint's
    generator weights, its config's settings, its training record)."""
    import tensorflow as tf

    from tfinpaint import config, precision
    from tfinpaint.experiment import Experiment

    with open(os.path.join(model_dir, "config.json")) as f:
        saved = json.load(f)
    precision.apply("float32")  # shipped weights: float32 layers (bf16-trained weights are float32)
    cfg = config.make(saved["method"], model_dir=model_dir, data_dir=saved.get("data_dir"),
                      dataset=saved["dataset"], image_size=saved["image_size"],
                      precision="float32", **saved["model"])
    run = Experiment(cfg, log=lambda *_: None)
    if not run.latest_checkpoint:
        raise PretrainedError(f"no checkpoint in {model_dir}/checkpoints.")
    target = os.path.join(HERE, name)
    staging = target + ".tmp"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    run.model.net.save_weights(os.path.join(staging, WEIGHTS))
    for extra in ("training.json", "metrics.json"):
        if os.path.exists(os.path.join(model_dir, extra)):
            shutil.copy(os.path.join(model_dir, extra), staging)
    info = {"name": name, "method": saved["method"], "settings": saved["model"],
            "hole_size": saved["hole_size"], "trained_at": saved["image_size"],
            "steps": run.steps_done(), "sha256": sha256(os.path.join(staging, WEIGHTS)),
            "parameters": int(run.model.net.count_params()), "command": command,
            "data": data, "tensorflow": tf.__version__}
    with open(os.path.join(staging, MANIFEST), "w") as f:
        json.dump(info, f, indent=2, sort_keys=True)
        f.write("\n")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
    return target
