"""The realism (SWD) anchors of the protocol: real images, classical fills, blur and noise.

    python benchmarks/realism_anchors.py --data_dir=../shared/data

For each protocol (the 1000 CIFAR-10 cars with the 12x12 protocol holes; the last 900 faces of
faces64.npz with 32x32 centre holes) it scores, with `evaluate.score` (the code every method
goes through), the truth itself (0 by construction), several disjoint samples of real train
images at the same holes (the noise floor: what "as real as real" reads), Gaussian-blurred
truths, the classical fills, and uniform noise (what the models are given in the hole). Prints
the tables and writes --out (JSON, with the machine and the command).
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import tfinpaint.quiet  # noqa: E402,F401  (first: hides TensorFlow's start-up lines)

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from benchmarks.common import command, machine  # noqa: E402
from tfinpaint import evaluate as protocol  # noqa: E402
from tfinpaint import realism  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
flags.DEFINE_string("data_dir", os.environ.get("TFINPAINT_DATA_DIR")
                    or os.path.join(os.path.dirname(ROOT), "shared", "data"), "Data directory.")
flags.DEFINE_list("protocols", ["cars", "faces64"], "Protocols to measure.")
flags.DEFINE_integer("real_samples", 5, "Disjoint samples of real train images for the floor.")
flags.DEFINE_list("blur", ["1", "2"], "Gaussian sigmas (pixels) of the blurred-truth anchors.")
flags.DEFINE_list("classical", list(protocol.CLASSICAL), "Classical fills to score.")
flags.DEFINE_string("out", "benchmarks/results/realism_anchors.json", "Results JSON.")
FLAGS = flags.FLAGS


def load(name):
    """(test images, real train images, masks, title) of a protocol."""
    if name == "cars":
        with np.load(os.path.join(FLAGS.data_dir, "cifar10_cars.npz")) as f:
            test, train = f["x_test"], f["x_train"]
        masks = protocol.protocol_masks(len(test), 32, 32, 12, seed=0)
        title = ("cifar10_cars x_test: 1000 images 32x32, 12x12 random holes (numpy "
                 "default_rng(0)); real samples: x_train")
    elif name == "faces64":
        with np.load(os.path.join(FLAGS.data_dir, "faces64.npz")) as f:
            x = f["x"]
        test, train = x[-900:], x[:-900]
        masks = protocol.protocol_masks(len(test), 64, 64, 32, center=True)
        title = ("faces64 test (the last 900 of 9000): 64x64, 32x32 centre holes; real samples: "
                 "the first 8100 faces")
    else:
        raise app.UsageError(f"unknown protocol {name!r}")
    return test, train, masks, title


def measure(name):
    test, train, masks, title = load(name)
    n = len(test)
    start = time.perf_counter()
    ref = realism.Reference(test, masks)
    reference_seconds = time.perf_counter() - start
    hole = masks < 0.5
    x = test.astype(np.float32) / 255
    fills = {"truth": test}
    for s in FLAGS.blur:
        fills[f"blur sigma={s}"] = np.where(hole, realism.gaussian_blur(test, float(s)), x)
    times = {}
    for c in FLAGS.classical:
        start = time.perf_counter()
        fills[c] = np.stack([protocol.classical_fill(c, test[i], hole[i, ..., 0])
                             for i in range(n)])
        times[c] = 1000 * (time.perf_counter() - start) / n
    fills["uniform noise"] = protocol.noisy_inputs(test, masks)
    rows = []
    for method, out in fills.items():
        row = {"method": method, **protocol.score(test, out, masks, reference=ref),
               "swd_levels": ref.swd_levels(out), "diversity": 0.0,
               "ms_per_image": times.get(method)}
        rows.append(row)
    samples = min(FLAGS.real_samples, len(train) // n)
    floors = []
    for i in range(samples):
        real = train[i * n:(i + 1) * n]
        start = time.perf_counter()
        levels = ref.swd_levels(real)
        swd_seconds = time.perf_counter() - start
        floors.append({"images": f"train[{i * n}:{(i + 1) * n}]", "swd": float(np.mean(levels)),
                       "swd_levels": levels})
    rows.append({**protocol.real_floor(test, train, masks, ref), "swd_levels":
                 floors[0]["swd_levels"]})
    values = [f["swd"] for f in floors]
    floor = {"samples": floors, "mean": float(np.mean(values)), "std": float(np.std(values)),
             "min": float(np.min(values)), "max": float(np.max(values))}
    print(protocol.format_table(rows, f"{title}\n({n} test images, SWD levels: {ref.levels})"))
    print("swd per level (finest first):")
    for r in rows:
        print(f"  {r['method']:20s} " + " ".join(f"{v:8.1f}" for v in r["swd_levels"]))
    print(f"real-vs-real floor over {samples} disjoint samples of {n}: "
          f"{floor['mean']:.1f} +- {floor['std']:.1f} (min {floor['min']:.1f}, "
          f"max {floor['max']:.1f}); the row {protocol.REAL!r} is the first.")
    print(f"time: reference {reference_seconds:.2f} s, then {swd_seconds:.2f} s per scored set "
          f"({n} images)\n")
    return {"title": title, "images": n, "levels": ref.levels, "rows": rows, "real_floor": floor,
            "seconds": {"reference": reference_seconds, "per_scored_set": swd_seconds},
            "settings": {"patch": realism.PATCH, "projections": realism.PROJECTIONS,
                         "patches_per_image": realism.PATCHES_PER_IMAGE, "seed": realism.SEED,
                         "min_hole_side": realism.MIN_HOLE_SIDE, "scale": realism.SCALE}}


def main(argv):
    load = {"start": os.getloadavg()}  # the timings (ms/img, seconds) are only as idle as this
    results = {name: measure(name) for name in FLAGS.protocols}
    load["end"] = os.getloadavg()
    print(f"load average (1, 5, 15 min) at start {load['start']}, at end {load['end']}")
    protocol.save_json(FLAGS.out, {"command": command(), "machine": machine(),
                                   "load_average": load, "protocols": results})
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    app.run(main)
