"""The one command that trains the shipped photo model and packages it into the package:

    TFINPAINT_DATA_DIR=../shared/data python -m tfinpaint.pretrained.train_photos

Phases (each an ordinary, resumable run folder under --runs; a phase already trained is skipped,
so a killed command is re-run as it is): `ffc` on random multi-scale crops of photos/train with
the photo hole families, first at 128x128 (four times the images per second), then at 256x256
starting from the first phase's weights (--init_from), then longer at 256x256 with bilinear
upsampling in the decoder (the first two phases' nearest upsampling left an 8-pixel grid in wide
fills; the weights carry over unchanged), then a second cosine cycle from a third of the learning
rate. Then the generator's weights go to tfinpaint/pretrained/photos/ with their manifest. On the
2-core AVX512_BF16 machine they were trained on, the phases take about 42, 42, 95 and 93 minutes
alone: over four and a half hours, over the two hours aimed at. The shipped weights' third phase was stopped after
25 of its 30 epochs (its cosine learning rate by then 7% of its start), and their fourth phase
started from that generator as shipped (`--init_from=pretrained:photos`: a fresh discriminator),
where this command carries the third phase's discriminator over too (see the manifest and
docs/evaluation.md).

Precision is --precision=auto: bf16 where the CPU has it natively (AVX512_BF16 or AMX, as on the
machine the shipped weights were trained on), float32 elsewhere: emulated bf16 is several times
slower than float32 (docs/evaluation.md#speed). On a 2-core AVX2-only CPU even float32 takes
6.5-9 s per 256-px step against about 1 s in bf16 on the machine above, so there the phases take
more than a day, not hours.
"""
import os
import subprocess
import sys

from absl import app, flags

from tfinpaint import pretrained

flags.DEFINE_string("runs", os.path.join("runs", "pretrained_photos"), "Run folders' parent.")
flags.DEFINE_string("name", "photos", "Shipped model name (tfinpaint/pretrained/<name>).")
flags.DEFINE_boolean("package", True, "Package the last phase into the package when done.")
FLAGS = flags.FLAGS

COMMON = ["--method=ffc", "--dataset=photos", "--holes_kind=photo", "--holes=data",
          "--precision=auto", "--mode=train", "--seed=0"]
# (run folder, its flags): 128-pixel crops for most of the budget, then 256.
PHASES = [
    ("ffc128", ["--image_size=128", "--batch_size=16", "--epochs=20", "--steps_per_epoch=250",
                "--learning_rate=1e-3", "--upsample=nearest"]),
    ("ffc256", ["--image_size=256", "--batch_size=8", "--epochs=13", "--steps_per_epoch=200",
                "--learning_rate=3e-4", "--upsample=nearest"]),
    ("ffc256b", ["--image_size=256", "--batch_size=8", "--epochs=30", "--steps_per_epoch=200",
                 "--learning_rate=3e-4", "--upsample=bilinear"]),
    ("ffc256c", ["--image_size=256", "--batch_size=8", "--epochs=28", "--steps_per_epoch=200",
                 "--learning_rate=1e-4", "--upsample=bilinear"]),
]

def command(phase, previous):
    name, extra = phase
    cmd = [sys.executable, "-m", "tfinpaint.main", *COMMON, *extra,
           f"--model_dir={os.path.join(FLAGS.runs, name)}"]
    if previous:
        cmd.append(f"--init_from={os.path.join(FLAGS.runs, previous)}")
    return cmd


def main(argv):
    del argv
    previous = None
    for phase in PHASES:
        cmd = command(phase, previous)
        print("+", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
        previous = phase[0]
    if FLAGS.package:
        shown = "python -m tfinpaint.pretrained.train_photos  # " + "; ".join(
            " ".join(command(p, prev)[2:]) for p, prev in zip(PHASES, [None] + [p[0] for p in PHASES]))
        path = pretrained.package(os.path.join(FLAGS.runs, previous), FLAGS.name, command=shown,
                                  data="shared/data/photos/train (BSDS500 train+val, ImageNet "
                                  "sample images): non-commercial research use")
        print(f"packaged {path}")


if __name__ == "__main__":
    app.run(main)
