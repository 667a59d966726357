"""Command line: train, evaluate, export or apply any tfinpaint method.

    python -m tfinpaint.main --method=ae_patch                   # train + evaluate + export
    python -m tfinpaint.main --mode=inpaint --model=runs/ae_patch/export/ae_patch \
        --image=photo.png --mask=mask.png --output=filled.png
"""
import os
import sys

import tfinpaint.quiet  # noqa: E402,F401  (first: hides TensorFlow's start-up lines)

from absl import app, flags  # noqa: E402

from tfinpaint import flags as tfflags  # noqa: E402

FLAGS = flags.FLAGS
tfflags.define(*tfflags.MAIN)  # every flag, with its help, is defined in tfinpaint/flags.py
flags.adopt_module_key_flags(tfflags)  # so --help lists them


def config_from_flags():
    return tfflags.config_from_flags(FLAGS)


def run(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if FLAGS.mode == "inpaint":
        from tfinpaint import inpaint

        missing = [f"--{f}" for f in ("model", "image", "output") if not getattr(FLAGS, f)]
        if missing or bool(FLAGS.mask) == bool(FLAGS.hole):
            raise app.UsageError("--mode=inpaint needs --model, --image, --output and exactly one "
                                 "of --mask or --hole (missing: "
                                 f"{', '.join(missing) or 'mask/hole'}).")
        for src, dst in inpaint.inpaint_paths(FLAGS.model, FLAGS.image, FLAGS.output,
                                              FLAGS.mask, FLAGS.hole):
            print(f"{src} -> {dst}")
        return
    from tfinpaint import distribute
    from tfinpaint.experiment import Experiment

    cfg = config_from_flags()  # before any TensorFlow work: a bad flag writes nothing
    distribute.split_cpu(FLAGS.logical_cpus)
    experiment = Experiment(cfg)
    if FLAGS.mode in ("train", "all"):
        experiment.train()
    if not experiment.is_chief:
        print("This worker's part of the training is done; the chief evaluates and exports.")
        return
    if FLAGS.mode in ("evaluate", "all"):
        experiment.evaluate()
    if FLAGS.mode in ("export", "all"):
        experiment.export()


def main(argv):
    from absl import logging

    from tfinpaint.utils import UserError

    logging.set_verbosity(logging.WARNING)  # TF's per-checkpoint INFO lines drown the progress

    try:
        run(argv)
    except (UserError, FileNotFoundError, FileExistsError) as e:
        print(f"tfinpaint: error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("tfinpaint: interrupted; training is checkpointed at every epoch and every "
              "--checkpoint_every_steps steps: run the same command again to resume.",
              file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    app.run(main)
