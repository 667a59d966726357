"""Requests/s and latency of the local REST server (`python -m serving.server`) on loopback,
beside the SavedModel's own batch-1 latency, so the HTTP + JSON + base64 overhead shows.

    python benchmarks/serving.py --model=runs/benchmark/export/ae_patch

For each PNG size (a photo-like image with a centred hole of 3/8 of the side, sent to the
`inpaint_bytes` signature as TF Serving's row format) and each number of concurrent clients
(threads, one HTTP session each), --requests requests in total are sent; the server runs in its
own process. Prints a table and writes --out (JSON with the machine and the command). Without
--model an untrained ae_patch is exported (the speed does not depend on the weights).
"""
import base64
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import tfinpaint.quiet  # noqa: E402,F401  (first: hides TensorFlow's start-up lines)

import numpy as np  # noqa: E402
import requests  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from benchmarks.common import command, machine  # noqa: E402
from tfinpaint import export, models  # noqa: E402
from tfinpaint.evaluate import save_json  # noqa: E402

flags.DEFINE_string("model", None, "Exported model folder (a version or its parent); default: "
                    "an untrained ae_patch.")
flags.DEFINE_list("sizes", ["32", "128"], "PNG sides.")
flags.DEFINE_list("clients", ["1", "8", "32"], "Concurrent clients.")
flags.DEFINE_integer("requests", 200, "Requests per (size, clients) cell.")
flags.DEFINE_string("out", "benchmarks/results/serving_cpu.json", "Results JSON.")
FLAGS = flags.FLAGS
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def photo(size):
    """A smooth image with a little sensor-like noise (PNG sizes close to a photo's)."""
    y, x = np.mgrid[0:size, 0:size] / size
    rgb = np.stack([np.sin(6 * x + 1), np.cos(5 * y), np.sin(4 * (x + y))], -1) * 100 + 128
    noise = np.random.default_rng(size).normal(0, 6, rgb.shape)
    return np.clip(rgb + noise, 0, 255).astype(np.uint8)


def body(size):
    png = tf.io.encode_png(photo(size)).numpy()
    hole = size * 3 // 8
    row = {"image_bytes": {"b64": base64.b64encode(png).decode()}, "mask_bytes": {"b64": ""},
           "hole": [(size - hole) // 2, (size - hole) // 2, hole]}
    return {"signature_name": "inpaint_bytes", "instances": [row]}, png, row["hole"]


def direct_ms(path, png, hole, n=50):
    signature = tf.saved_model.load(path).signatures["inpaint_bytes"]
    args = dict(image_bytes=tf.constant([png]), mask_bytes=tf.constant([b""]),
                hole=tf.constant([hole], tf.int32))
    for _ in range(5):
        signature(**args)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        signature(**args)["inpainted_bytes"].numpy()
        times.append(time.perf_counter() - t)
    return 1000 * float(np.median(times))


def load(url, payload, clients, total):
    per_client = [total // clients + (i < total % clients) for i in range(clients)]

    def worker(n):
        session, times = requests.Session(), []
        for _ in range(n):
            t = time.perf_counter()
            r = session.post(url, json=payload, timeout=120)
            times.append(time.perf_counter() - t)
            if r.status_code != 200:
                raise RuntimeError(r.text[:300])
        return times

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        times = [t for ts in pool.map(worker, per_client) for t in ts]
    wall = time.perf_counter() - start
    ms = 1000 * np.array(times)
    return {"requests": total, "requests_per_s": total / wall, "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99))}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv):
    del argv
    tmp = tempfile.mkdtemp()
    if FLAGS.model:
        base = os.path.dirname(export.latest(FLAGS.model))
    else:
        base = os.path.join(tmp, "ae_patch")
        export.export(models.build("ae_patch", 12, seed=0), base)
    path = export.latest(base)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "serving.server", "--model_name=m",
                               f"--model_base_path={base}", f"--rest_api_port={port}"],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1/models/m"
    try:
        for _ in range(240):
            try:
                if requests.get(url, timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.5)
        rows = []
        for size in map(int, FLAGS.sizes):
            payload, png, hole = body(size)
            model_ms = direct_ms(path, png, hole)
            requests.post(url + ":predict", json=payload, timeout=120).raise_for_status()  # warm-up
            for clients in map(int, FLAGS.clients):
                r = load(url + ":predict", payload, clients, FLAGS.requests)
                rows.append({"size": size, "png_bytes": len(png), "clients": clients,
                             "saved_model_ms": model_ms, **r})
                print(f"{size}x{size} clients={clients}: {r['requests_per_s']:.1f} req/s, "
                      f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms "
                      f"(SavedModel alone {model_ms:.1f} ms)", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=60)
    print("\n| PNG | clients | requests | req/s | p50 ms | p99 ms | SavedModel batch-1 ms |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['size']}x{r['size']} ({r['png_bytes']} B) | {r['clients']} | {r['requests']} | "
              f"{r['requests_per_s']:.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
              f"{r['saved_model_ms']:.1f} |")
    save_json(FLAGS.out, {"command": command(), "machine": machine(), "model": path, "rows": rows,
                          "load_average_1_5_15": os.getloadavg()})


if __name__ == "__main__":
    app.run(main)
