"""Time of the DCGAN's protocol evaluation (a latent search per face), before and after the
faster search settings, on one trained run folder:

    python -m tfinpaint.main --method=dcgan --filters=32 --epochs=2 --mode=train --model_dir=runs/dcgan_search
    python benchmarks/dcgan_search.py --model_dir=runs/dcgan_search

Each --variants entry is `name[:key=value...]` (search settings, --precision); every variant
restores the same checkpoint (in its own precision) and scores the same --eval_images faces.
Prints a table (seconds, hole PSNR, realism) and writes --out (JSON, machine, command).
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import tfinpaint.quiet  # noqa: E402,F401  (first: hides TensorFlow's start-up lines)

from absl import app, flags  # noqa: E402

from benchmarks.common import command, machine, value  # noqa: E402
from tfinpaint import config, precision  # noqa: E402
from tfinpaint import evaluate as protocol  # noqa: E402
from tfinpaint.experiment import Experiment  # noqa: E402

flags.DEFINE_string("model_dir", "runs/dcgan_search", "A trained dcgan run folder.")
flags.DEFINE_list("variants", ["before:z_steps=1000:precision=float32",
                               "patience:z_steps=1000:z_patience=50:precision=float32",
                               "bf16+patience:z_steps=1000:z_patience=50:"
                               "precision=mixed_bfloat16"],
                  "name[:key=value...] per entry: search settings and precision.")
flags.DEFINE_integer("eval_images", 100, "Test faces scored.")
flags.DEFINE_string("out", "benchmarks/results/dcgan_search.json", "Results JSON.")
FLAGS = flags.FLAGS


def main(argv):
    with open(os.path.join(FLAGS.model_dir, "config.json")) as f:
        trained = json.load(f)
    rows = []
    for entry in FLAGS.variants:
        name, *pairs = entry.split(":")
        settings = {k: value(v) for k, v in (p.split("=", 1) for p in pairs)}
        model = {**trained["model"], **{k: v for k, v in settings.items() if k != "precision"}}
        cfg = config.make("dcgan", **{**{k: trained[k] for k in ("dataset", "data_dir", "seed")},
                                      **model, "precision": settings.get("precision", "float32"),
                                      "model_dir": FLAGS.model_dir, "classical": (),
                                      "eval_images": FLAGS.eval_images})
        exp = Experiment(cfg, log=lambda *a: None)
        start = time.perf_counter()
        result = next(r for r in exp.evaluate() if r["method"] == "dcgan")
        rows.append({"variant": name, "settings": settings,
                     "seconds": time.perf_counter() - start, **result})
        print(f"| {name} | {rows[-1]['seconds']:.1f} | {result['hole_psnr']:.2f} | "
              f"{result.get('swd', float('nan')):.1f} |", flush=True)
    precision.apply("float32")
    protocol.save_json(FLAGS.out, {"command": command(), "machine": machine(),
                                   "model_dir": FLAGS.model_dir, "rows": rows})
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    app.run(main)
