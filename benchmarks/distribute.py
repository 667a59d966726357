"""Training images/s on one device vs `--distribute=mirrored` over logical CPU devices, at the
same global batch, for a few methods (thesis-sized models, holes made in train_step).

    python benchmarks/distribute.py --data_dir=../shared/data

On a CPU the logical devices share the same cores (and TensorFlow's thread pools), so this
measures what tf.distribute costs, not a speed-up: on GPUs each replica has its own device.
Each configuration trains one warm-up epoch, then one device and mirrored alternate
`--timed_epochs` timed epochs; the best epoch of each is reported. Prints a table and writes
--out (JSON, with the machine, the command and the load average, since the figures are
wall-clock).
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import tfinpaint.quiet  # noqa: E402,F401  (first: hides TensorFlow's start-up lines)

from absl import app, flags  # noqa: E402

from tfinpaint import flags as tfflags  # noqa: E402

flags.DEFINE_list("methods", ["conv", "ae_patch", "gan"], "Methods to time (32x32 CIFAR cars).")
flags.DEFINE_integer("global_batch_size", 64, "Global batch (mirrored: global_batch_size / "
                     "replicas each).")
flags.DEFINE_integer("replicas", 2, "Logical CPU devices for mirrored.")
flags.DEFINE_integer("train_steps", 10, "Steps per timed epoch.")
flags.DEFINE_integer("timed_epochs", 5, "Timed epochs per configuration (after one warm-up "
                     "epoch); one device and mirrored alternate.")
flags.DEFINE_string("out", "benchmarks/results/distribute_cpu.json", "Results JSON.")
tfflags.define("data", "training", only=("data_dir", "precision"))
flags.adopt_module_key_flags(tfflags)
FLAGS = flags.FLAGS


def main(argv):
    from absl import logging

    from tfinpaint import distribute

    distribute.split_cpu(FLAGS.replicas)  # before TensorFlow initialises its devices
    import keras

    from benchmarks.common import command, machine
    from tfinpaint import evaluate, models, precision
    from tfinpaint.data import load_dataset, train_pipeline

    logging.set_verbosity(logging.WARNING)
    batch = FLAGS.global_batch_size
    if batch % FLAGS.replicas:
        raise app.UsageError("--global_batch_size must be a multiple of --replicas.")
    cars = load_dataset("cifar10_cars", FLAGS.data_dir)
    load_before = os.getloadavg()

    policy = precision.apply(FLAGS.precision)  # before any model is built
    rows = []
    for method in FLAGS.methods:
        runs = {}
        for kind in ("none", "mirrored"):
            strategy = distribute.strategy(kind)
            keras.utils.set_random_seed(0)
            with strategy.scope():
                model = models.build(method, 12, image_size=32, seed=0)
                model.compile(keras.optimizers.Adam(1e-3))
                model.build_optimizers()
            data = train_pipeline(cars.train, batch, seed=0)
            model.fit(data, steps_per_epoch=FLAGS.train_steps, epochs=1, verbose=0,
                      shuffle=False)  # traces and warms up
            runs[kind] = (strategy, model, data, [])
        for _ in range(FLAGS.timed_epochs):  # alternate: a change in the machine's load hits both
            for kind, (strategy, model, data, seconds) in runs.items():
                start = time.perf_counter()
                model.fit(data, steps_per_epoch=FLAGS.train_steps, epochs=1, verbose=0,
                          shuffle=False)
                seconds.append(time.perf_counter() - start)
        for kind, (strategy, model, data, seconds) in runs.items():
            rows.append({"method": method, "distribute": kind,
                         "replicas": strategy.num_replicas_in_sync,
                         "per_replica_batch": batch // strategy.num_replicas_in_sync,
                         "global_batch": batch,
                         "images_per_s": FLAGS.train_steps * batch / min(seconds),
                         "epoch_seconds": seconds})
    one = {r["method"]: r["images_per_s"] for r in rows if r["distribute"] == "none"}
    for r in rows:
        r["vs_one_device"] = r["images_per_s"] / one[r["method"]]

    print(f"{'method':10s} {'distribute':10s} {'replicas':>8s} {'batch':>11s} {'images/s':>9s} "
          f"{'vs 1 dev':>8s}")
    for r in rows:
        batch = f"{r['replicas']}x{r['per_replica_batch']}"
        print(f"{r['method']:10s} {r['distribute']:10s} {r['replicas']:8d} {batch:>11s} "
              f"{r['images_per_s']:9.1f} {r['vs_one_device']:8.2f}")
    evaluate.save_json(FLAGS.out, {
        "command": command(), "machine": machine(),
        "logical_cpu_devices": FLAGS.replicas, "precision": policy,
        "train_steps": FLAGS.train_steps, "timed_epochs": FLAGS.timed_epochs,
        "load_average_before_after": [load_before, os.getloadavg()],
        "note": "logical CPU devices share the same cores and thread pools: this is the cost "
                "of tf.distribute on one CPU, not a multi-device speed-up",
        "rows": rows})
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    app.run(main)
