"""keras-tuner search over a method's filter sizes, widths, depth, learning rate and its own
settings (alpha, latent size, KL weight, lam); the best model is exported for TF Serving.
Data, training, model and export flags are tfinpaint.main's (defined once in tfinpaint/flags.py).

    python -m tuner.search --method=gan --tuner=bayesian --max_trials=8 --epochs=5

The search space is declared where the layers are made (`tfinpaint/models/*`, via
`tfinpaint.models.hparams`); its defaults are the thesis' settings. A stopped search resumes
where it stopped (keras-tuner's own trial records in --directory/--project_name).
"""
import dataclasses
import json
import os
import sys
import time

import tfinpaint.quiet  # noqa: E402,F401  (first: hides TensorFlow's start-up lines)

from absl import app, flags, logging  # noqa: E402

from tfinpaint import flags as tfflags  # noqa: E402

FLAGS = flags.FLAGS


def define_flags():
    """The command line's flags: tfinpaint.main's data, training, model and export flags (the
    same definitions, from tfinpaint/flags.py) and the search's own. Defined only when run as a
    program, so that importing `search` next to `tfinpaint.main` defines nothing."""
    tfflags.define(*tfflags.TUNER)
    flags.adopt_module_key_flags(tfflags)


def direction(objective):
    return "min" if any(k in objective for k in ("loss", "l1", "kl")) else "max"


def make_tuner(kind, hypermodel, objective, max_trials, epochs, directory, project_name, seed,
               strategy=None):
    """`strategy`: a tf.distribute strategy every trial's model is built and trained under."""
    import keras_tuner as kt

    common = dict(objective=kt.Objective(objective, direction(objective)), directory=directory,
                  project_name=project_name, seed=seed, overwrite=False,
                  distribution_strategy=strategy)
    if kind == "hyperband":
        return kt.Hyperband(hypermodel, max_epochs=epochs, **common)
    cls = kt.BayesianOptimization if kind == "bayesian" else kt.RandomSearch
    return cls(hypermodel, max_trials=max_trials, **common)


def hypermodel_for(cfg, bank=None):
    """A keras_tuner.HyperModel that builds `cfg.method` (a resolved config) with searched
    hyperparameters (`bank`: --mask_files masks to train on)."""
    import keras_tuner as kt

    from tfinpaint import build
    from tfinpaint.models import hparams

    class InpaintHyperModel(kt.HyperModel):
        def build(self, hp):
            lr = hparams.log_float(hp, "learning_rate", 1e-4, 1e-2, cfg.learning_rate)
            return build.model(dataclasses.replace(cfg, learning_rate=lr), bank, hp=hp)

    return InpaintHyperModel(name=cfg.method)


def trials_table(tuner, objective):
    trials = sorted(tuner.oracle.trials.values(), key=lambda t: t.trial_id)
    lines = [f"{'trial':>6s} {'status':10s} {objective:>14s}  hyperparameters"]
    for t in trials:
        score = "" if t.score is None else f"{t.score:.3f}"
        lines.append(f"{t.trial_id:>6s} {t.status:10s} {score:>14s}  {t.hyperparameters.values}")
    return "\n".join(lines)


def check_objective(cfg, objective):
    """dcgan reports image metrics in validation only when it completes the images there."""
    from tfinpaint.metrics import FUNCTIONS
    from tfinpaint.utils import ConfigError

    image_metric = objective.removeprefix("val_") in FUNCTIONS
    if getattr(cfg.model, "val_search_steps", None) == 0 and image_metric:
        raise ConfigError(f"{cfg.method} validates by completing images only with "
                          f"--val_search_steps > 0 (e.g. 50), so {objective} does not exist: "
                          "pass --val_search_steps, or a loss (--objective=val_g_loss).")


def search(cfg, kind="random", max_trials=8, objective="val_hole_psnr", directory="tuner_runs",
           project_name=None, splits=None, log=print, strategy=None):
    """Runs (or resumes) a search for `cfg` (from `tfinpaint.config.make`) and exports the best
    model under cfg.export_dir in cfg.export_format; returns (export path, best record). Under
    `cfg.distribute` (or `strategy`) every trial trains on batch_size x replicas images a step."""
    from tfinpaint import build, distribute, precision
    from tfinpaint.experiment import export_model

    check_objective(cfg, objective)
    # First: multi_worker and tpu strategies configure the runtime before any other TF work.
    strategy = strategy or distribute.strategy(cfg.distribute, cfg.tpu)
    replicas = strategy.num_replicas_in_sync
    distributed = cfg.distribute != "none" or replicas > 1
    splits = splits or build.splits(cfg)
    cfg = cfg.resolve(splits, replicas)
    bank = build.masks(cfg)
    train, val = build.pipelines(cfg, splits, build.hole_maker(cfg, bank), replicas)
    log(f"Trials train in {precision.describe(cfg.precision)}.")
    if distributed:
        log(f"Trials train under {cfg.distribute}: {replicas} replicas x {cfg.batch_size} = "
            f"{cfg.batch_size * replicas} images a step.")
    tuner = make_tuner(kind, hypermodel_for(cfg, bank), objective, max_trials, cfg.epochs,
                       directory, project_name or cfg.method, cfg.seed,
                       strategy if distributed else None)
    tuner.search_space_summary()
    start = time.perf_counter()
    tuner.search(train, validation_data=val, epochs=cfg.epochs,
                 steps_per_epoch=cfg.steps_per_epoch, shuffle=False,
                 verbose=1 if sys.stdout.isatty() else 2)
    log(f"Search finished in {time.perf_counter() - start:.1f} s.")
    if os.environ.get("KERASTUNER_TUNER_ID", "chief") != "chief" or not distribute.is_chief(strategy):
        log("This worker's trials are done; the chief reports and exports the best model.")
        return None, None
    log(trials_table(tuner, objective))
    best_hp = tuner.get_best_hyperparameters(1)[0]
    best = tuner.oracle.get_best_trials(1)[0]
    model = tuner.get_best_models(1)[0]
    record = {"method": cfg.method, "objective": objective, "score": best.score,
              "trial_id": best.trial_id, "hyperparameters": best_hp.values}
    text = json.dumps(record, indent=2, sort_keys=True) + "\n"
    path = export_model(model, cfg, extra_files={"best_hyperparameters.json": text})
    from tfinpaint.utils import atomic_write_text

    atomic_write_text(os.path.join(directory, project_name or cfg.method,
                                   "best_hyperparameters.json"), text)
    log(f"Best trial {best.trial_id}: {objective}={best.score:.3f} {best_hp.values}")
    log(f"Exported the best model to {path}")
    return path, record


def main(argv):
    from tfinpaint import distribute
    from tfinpaint.utils import UserError

    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.set_verbosity(logging.WARNING)
    try:
        cfg = tfflags.config_from_flags(FLAGS, export_dir="serving/models")
        distribute.split_cpu(FLAGS.logical_cpus)
        search(cfg, FLAGS.tuner, FLAGS.max_trials, FLAGS.objective, FLAGS.directory,
               FLAGS.project_name)
    except (UserError, FileNotFoundError) as e:
        print(f"tuner.search: error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    define_flags()
    app.run(main)
