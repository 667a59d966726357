"""Try the page in a browser: train two models briefly, export them, serve them and the page.

    TFINPAINT_DATA_DIR=../shared/data python -m serving.demo     # then open http://127.0.0.1:8501/

Trains `conv` (2 epochs) and `unet` (5 epochs) on the CIFAR-10 cars with mixed holes (per image a
square or free-form strokes and blotches covering 10-40%, so brushed masks fill as well as
rectangles) with the ordinary command line (`python -m tfinpaint.main`, evaluated on 200 test
cars, no classical baselines),
exports them under `<workdir>/models/`, writes `<workdir>/models.config` and a sample photo
(`<workdir>/sample_cars.png`, six test cars), then serves the REST API and the page with
`serving.server`. Run again, it reuses the exports (`--retrain` trains anew). Short trainings:
the fills are smooth and blurry, as the README's tables say; train longer with tfinpaint.main
and point `python -m serving.server` at your own exports for better ones.
"""
import tfinpaint.quiet  # noqa: F401  (first: hides TensorFlow's start-up lines)

import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from absl import app, flags  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# (method, epochs): both fully convolutional, so they fill any brushed mask (the patch methods
# refuse free-form holes). About 6 minutes on 2 idle CPU cores (conv 45 s, unet 41 s per epoch).
MODELS = (("conv", 2), ("unet", 5))

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", "runs/demo", "Folder for the runs, exports, models.config and "
                    "the sample photo.")
flags.DEFINE_string("data_dir", None, "Folder with cifar10_cars.npz (default: "
                    "$TFINPAINT_DATA_DIR, else ../shared/data next to the checkout, else "
                    "TensorFlow Datasets downloads CIFAR-10).")
flags.DEFINE_integer("port", 8501, "HTTP port of the page and the REST API.", lower_bound=0,
                     upper_bound=65535)
flags.DEFINE_string("host", "127.0.0.1", "Address to listen on (0.0.0.0: every interface).")
flags.DEFINE_boolean("retrain", False, "Train and export again even if exports exist.")
flags.DEFINE_integer("steps_per_epoch", None, "Training steps per epoch (default: one pass over "
                     "the 4,500 training cars); a small value gives a quick, poor demo.",
                     lower_bound=1)
flags.DEFINE_boolean("serve", True, "Serve after training (--noserve: train and export only).")


def data_dir():
    found = FLAGS.data_dir or os.environ.get("TFINPAINT_DATA_DIR")
    if not found:
        shared = os.path.join(os.path.dirname(ROOT), "shared", "data")
        found = shared if os.path.exists(os.path.join(shared, "cifar10_cars.npz")) else None
    return os.path.abspath(found) if found else None


def train_and_export(method, epochs, workdir, data):
    """Runs `python -m tfinpaint.main` for one method; returns its export base folder."""
    run, base = os.path.join(workdir, "runs", method), os.path.join(workdir, "models", method)
    if FLAGS.retrain:
        shutil.rmtree(run, ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)
    if os.path.isdir(base) and any(d.isdigit() for d in os.listdir(base)):
        print(f"demo: {method}: using the export in {base} (--retrain to train again)")
        return base
    command = [sys.executable, "-m", "tfinpaint.main", f"--method={method}", "--mode=all",
               f"--epochs={epochs}", f"--model_dir={run}",
               f"--export_dir={os.path.join(workdir, 'models')}", "--classical=",
               "--holes_kind=mixed", "--eval_images=200"]
    if data:
        command.append(f"--data_dir={data}")
    if FLAGS.steps_per_epoch:
        command.append(f"--steps_per_epoch={FLAGS.steps_per_epoch}")
    print(f"demo: training {method} for {epochs} epochs: {' '.join(command[1:])}", flush=True)
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"demo: training {method} failed (exit {done.returncode}); see above.")
    print(f"demo: {method} trained and exported in {time.monotonic() - started:.0f} s", flush=True)
    return base


def write_sample(workdir, data):
    """Six test cars in a 2 x 3 mosaic (96 x 64 pixels), to try the page with."""
    import numpy as np

    path = os.path.join(data or "", "cifar10_cars.npz")
    if not data or not os.path.exists(path):
        return None
    import tensorflow as tf

    with np.load(path) as f:
        cars = f["x_test"][:6]
    mosaic = np.concatenate([np.concatenate(list(cars[r * 3:r * 3 + 3]), axis=1)
                             for r in range(2)], axis=0)
    out = os.path.join(workdir, "sample_cars.png")
    with open(out, "wb") as f:
        f.write(tf.io.encode_png(mosaic).numpy())
    return out


def main(argv):
    del argv
    started = time.monotonic()
    workdir = os.path.abspath(FLAGS.workdir)
    os.makedirs(workdir, exist_ok=True)
    data = data_dir()
    bases = {method: train_and_export(method, epochs, workdir, data) for method, epochs in MODELS}
    config = os.path.join(workdir, "models.config")
    with open(config, "w") as f:
        f.write("model_config_list {\n" + "".join(
            f'  config {{ name: "{m}" base_path: "{b}" model_platform: "tensorflow" }}\n'
            for m, b in bases.items()) + "}\n")
    sample = write_sample(workdir, data)
    print(f"demo: models ready in {time.monotonic() - started:.0f} s; config {config}", flush=True)
    if not FLAGS.serve:
        return 0
    from serving.server import Server, parse_model_config

    with open(config) as f:
        configs = parse_model_config(f.read())
    try:
        server = Server(configs, FLAGS.port, FLAGS.host)
    except OSError as e:
        raise SystemExit(f"demo: cannot listen on {FLAGS.host}:{FLAGS.port} ({e}); "
                         "pick another with --port.") from None
    server.start()
    print(f"demo: open {server.url}/ in a browser"
          + (f" and drop {sample} on it (or your own photo)" if sample else "")
          + f". REST API: {server.url}/v1/models/<name>. Ctrl-C stops.", flush=True)
    server.wait()
    return 0


if __name__ == "__main__":
    app.run(main)
