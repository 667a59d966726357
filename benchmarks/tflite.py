"""TFLite (LiteRT) vs SavedModel: file sizes, batch-1 latency on this CPU, and hole PSNR of the
float32 and dynamic-range files against the SavedModel, on briefly trained models.

    python benchmarks/tflite.py --data_dir=../shared/data

Each method is trained for --train_steps steps (cars methods at 32x32, 12x12 holes; the context
encoder at 128x128 on faces64 upscaled, 64x64 centre holes, at the README's width 32 /
bottleneck 512), exported both ways, and run on the same held-out images and holes: the CIFAR-10
protocol holes on the first --eval_images test cars, centre holes on the last faces. Latency is
the median of --repeats calls at batch 1 (SavedModel: its `serving_default` signature; TFLite:
the interpreter's signature runner with --threads threads). `dcgan` has no TFLite form (see
tfinpaint.export.TFLITE_UNSUPPORTED). Prints a table and writes --out (JSON, with the machine and
the command). Run it on an idle machine: the latencies are wall-clock.
"""
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags, logging  # noqa: E402

from benchmarks.common import command, machine  # noqa: E402
from tfinpaint import evaluate, export, metrics, models  # noqa: E402

flags.DEFINE_list("methods", ["conv", "ae", "ae_patch", "cvae", "cvae_patch", "gan",
                              "context_encoder"], "Methods (dcgan has no TFLite form).")
flags.DEFINE_string("data_dir", os.environ.get("TFINPAINT_DATA_DIR", "../shared/data"),
                    "Folder with cifar10_cars.npz and faces64.npz.")
flags.DEFINE_integer("train_steps", 200, "Training steps per method before exporting.")
flags.DEFINE_integer("eval_images", 200, "Held-out images for the hole PSNR (100 faces at most "
                     "for the context encoder).")
flags.DEFINE_integer("repeats", 200, "Timed calls per latency (after a warm-up).")
flags.DEFINE_integer("threads", 2, "TFLite interpreter threads.")
flags.DEFINE_string("out", "benchmarks/results/tflite_cpu.json", "Results JSON.")
FLAGS = flags.FLAGS

# method -> (data, image side, hole side, batch, settings, Adam learning rate and beta_1)
SETUPS = {
    "conv": ("cars", 32, 12, 32, {}, (1e-3, 0.9)),
    "ae": ("cars", 32, 12, 32, {}, (1e-3, 0.9)),
    "ae_patch": ("cars", 32, 12, 32, {}, (1e-3, 0.9)),
    "cvae": ("cars", 32, 12, 32, {}, (1e-3, 0.9)),
    "cvae_patch": ("cars", 32, 12, 32, {}, (1e-3, 0.9)),
    "gan": ("cars", 32, 12, 32, {}, (2e-4, 0.5)),
    "context_encoder": ("faces", 128, 64, 16, dict(filters=32, bottleneck=512), (2e-4, 0.5)),
}


def load(kind):
    """(training images, held-out images) as uint8."""
    if kind == "cars":
        with np.load(os.path.join(FLAGS.data_dir, "cifar10_cars.npz")) as f:
            return f["x_train"][:4500], f["x_test"][:FLAGS.eval_images]
    with np.load(os.path.join(FLAGS.data_dir, "faces64.npz")) as f:
        x = f["x"]
    split = len(x) - len(x) // 10
    return x[:split], x[split:][:min(FLAGS.eval_images, 100)]


def resize(images, size):
    if images.shape[1] == size:
        return images
    return tf.cast(tf.round(tf.clip_by_value(tf.image.resize(
        tf.convert_to_tensor(images, tf.float32), [size, size]), 0, 255)), tf.uint8).numpy()


def train(method, train_u8, size, hole, batch, settings, adam):
    model = models.build(method, hole, image_size=size, seed=0, **settings)
    model.compile(optimizer=keras.optimizers.Adam(adam[0], beta_1=adam[1]))
    data = (tf.data.Dataset.from_tensor_slices(train_u8).repeat().shuffle(2048, seed=0)
            .batch(batch, drop_remainder=True)
            .map(lambda x: tf.image.resize(tf.cast(x, tf.float32), [size, size]) / 255.0)
            .prefetch(2))
    start = time.perf_counter()
    model.fit(data, steps_per_epoch=FLAGS.train_steps, epochs=1, verbose=0)
    return model, time.perf_counter() - start


def folder_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def median_ms(fn):
    fn()
    times = []
    for _ in range(FLAGS.repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def run_all(runner, images, masks):
    return np.concatenate([runner(image=images[i:i + 1], mask=masks[i:i + 1])["inpainted"]
                           for i in range(len(images))])


def hole_psnr(images, outputs, masks):
    return float(np.mean(metrics.hole_psnr(images, outputs, masks)))


def measure(method, workdir):
    kind, size, hole, batch, settings, adam = SETUPS[method]
    train_u8, test_u8 = load(kind)
    model, seconds = train(method, train_u8, size, hole, batch, settings, adam)
    saved_path = export.export(model, os.path.join(workdir, method), size)
    files = export.export_tflite(model, os.path.join(workdir, "tflite"), size)
    images = resize(test_u8, size).astype(np.float32) / 255.0
    masks = evaluate.protocol_masks(len(images), size, size, hole, center=kind == "faces")

    signature = tf.saved_model.load(saved_path).signatures["serving_default"]
    reference = np.concatenate([
        signature(image=tf.constant(images[i:i + 64]), mask=tf.constant(masks[i:i + 64]))[
            "inpainted"].numpy() for i in range(0, len(images), 64)])
    one = (tf.constant(images[:1]), tf.constant(masks[:1]))
    row = {"method": method, "size": size, "hole": hole, "train_steps": FLAGS.train_steps,
           "train_seconds": round(seconds, 1), "images": len(images),
           "saved_model_bytes": folder_bytes(saved_path),
           "saved_model_ms": median_ms(lambda: signature(image=one[0], mask=one[1])),
           "saved_model_hole_psnr": hole_psnr(images, reference, masks)}
    for variant, path in files.items():
        runner = export.tflite_interpreter(path, FLAGS.threads).get_signature_runner()
        outputs = run_all(runner, images, masks)
        row[f"{variant}_bytes"] = os.path.getsize(path)
        row[f"{variant}_ms"] = median_ms(lambda: runner(image=images[:1], mask=masks[:1]))
        row[f"{variant}_hole_psnr"] = hole_psnr(images, outputs, masks)
        row[f"{variant}_max_abs_diff"] = float(np.abs(outputs - reference).max())
        row[f"{variant}_max_abs_diff_255"] = float(np.abs(outputs - reference).max() * 255)
    print(format_row(row), flush=True)
    return row


HEADER = ("| method | input | SavedModel | float32 | dynamic range | SavedModel ms | float32 ms | "
          "dynamic ms | hole PSNR SavedModel | float32 (max diff /255) | dynamic (diff dB) |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|")


def format_row(r):
    mb = lambda b: f"{b / 1e6:.2f} MB" if b >= 1e5 else f"{b / 1e3:.0f} kB"  # noqa: E731
    return (f"| {r['method']} | {r['size']}x{r['size']} | {mb(r['saved_model_bytes'])} | "
            f"{mb(r['float32_bytes'])} | {mb(r['dynamic_range_bytes'])} | "
            f"{r['saved_model_ms']:.2f} | {r['float32_ms']:.2f} | {r['dynamic_range_ms']:.2f} | "
            f"{r['saved_model_hole_psnr']:.2f} | {r['float32_hole_psnr']:.2f} "
            f"({r['float32_max_abs_diff_255']:.3f}) | {r['dynamic_range_hole_psnr']:.2f} "
            f"({r['dynamic_range_hole_psnr'] - r['saved_model_hole_psnr']:+.2f}) |")


def main(argv):
    del argv
    import json

    logging.set_verbosity(logging.WARNING)
    tf.get_logger().setLevel("ERROR")
    print(HEADER, flush=True)
    with tempfile.TemporaryDirectory() as workdir:
        rows = [measure(m, workdir) for m in FLAGS.methods]
    result = {"machine": machine(), "command": command(),
              "settings": {"train_steps": FLAGS.train_steps, "eval_images": FLAGS.eval_images,
                           "repeats": FLAGS.repeats, "tflite_threads": FLAGS.threads,
                           "interpreter": interpreter_name()},
              "rows": rows}
    os.makedirs(os.path.dirname(FLAGS.out) or ".", exist_ok=True)
    with open(FLAGS.out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {FLAGS.out}")


def interpreter_name():
    try:
        import ai_edge_litert  # noqa: F401
        return "ai_edge_litert.interpreter.Interpreter"
    except ImportError:
        return f"tf.lite.Interpreter (TensorFlow {tf.__version__})"


if __name__ == "__main__":
    app.run(main)
