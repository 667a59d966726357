"""Load test of the local REST server (`python -m serving.server`) on loopback: can bad, huge or
slow requests knock it over?

    python benchmarks/load_test.py                      # 32 clients for 60 s -> results/load_test.json
    python benchmarks/load_test.py --single_2048 --label=after   # the one 2048x2048 request only

The server runs in its own process with its default limits, serving an untrained conv (64 wide,
a model that runs at the image's size), ae_patch and cvae (a fixed-size model) exported into a
temporary folder (or --models_dir). --clients threads (one connection per request, as werkzeug
closes each) send, until --seconds have passed or --max_requests were sent, a seeded mix of:
  normal     photo-like PNGs of 64-128 px with a hole (expect 200, or 503 when busy)
  largest    all-black PNGs exactly at each model's pixel budget (the most work allowed)
  oversize   all-black PNGs over the budget, and a PNG header claiming 60000x60000 (expect 413)
  malformed  bad JSON, wrong types, bad base64, non-images, unknown models, oversized bodies
  slow       the body sent in pieces over about two seconds (expect 200/503)
  stalled    half a body, then nothing (expect 408 after --rest_api_timeout_in_ms)
A client that gets 503 waits its Retry-After (times 0.5-1.5) before its next request. Reported:
requests per kind and status, p50/p99 latency, the server's peak RSS (VmHWM), every client-side
error (connection refused or reset, timeout, a non-JSON answer), and whether the server still
serves normally afterwards. Prints a table and writes --out (JSON: machine, command, figures).

--single_2048 sends only the request of the issue (a 2048x2048 all-black PNG, 12 KB, with a
12-pixel hole, to conv) and records status, seconds and peak RSS under --label in --single_out;
--server_script/--server_cwd run another copy of the server (e.g. the code before this change).
"""
import json
import os
import random
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import tfinpaint.quiet  # noqa: E402,F401  (first: TensorFlow's start-up lines)

import numpy as np  # noqa: E402
import requests  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags, logging  # noqa: E402

from benchmarks.common import command, machine  # noqa: E402
from serving.client import bytes_row  # noqa: E402
from tfinpaint.data.sources import resolve_data_dir  # noqa: E402
from tfinpaint.photo_protocol import photo_paths  # noqa: E402
from tfinpaint.inpaint import FULL_SIZE_PIXELS, RESAMPLED_PIXELS  # noqa: E402

flags.DEFINE_integer("seconds", 60, "How long new requests are sent.", lower_bound=1)
flags.DEFINE_integer("clients", 32, "Concurrent clients.", lower_bound=1)
flags.DEFINE_integer("max_requests", 100000, "Stop after this many requests in all.", lower_bound=1)
flags.DEFINE_string("out", "benchmarks/results/load_test.json", "Results JSON.")
flags.DEFINE_string("models_dir", None, "Folder with conv/, ae_patch/ and cvae/ exports "
                    "(default: untrained ones exported into a temporary folder).")
flags.DEFINE_list("server_args", [], "Extra flags for the server, e.g. "
                  "--server_args=--rest_api_timeout_in_ms=2000.")
flags.DEFINE_string("server_script", None, "Run this server file instead of -m serving.server.")
flags.DEFINE_string("server_cwd", None, "Working folder and PYTHONPATH of the server process.")
flags.DEFINE_bool("single_2048", False, "Only the single 2048x2048 request (see the docstring).")
flags.DEFINE_string("label", "after", "--single_2048: the name of this measurement.")
flags.DEFINE_string("single_out", "benchmarks/results/single_2048.json", "--single_2048 results.")
flags.DEFINE_float("request_timeout", 180.0, "Client timeout per request, seconds.")
flags.DEFINE_integer("seed", 0, "Seed of the request mix.")
flags.DEFINE_bool("photos", False, "Also serve the shipped photo model (`photos`, exported from "
                  "the package) with photo-sized requests: Kodak crops of at most 768 px with "
                  "elliptic holes as masks, the request shape the page and `tfinpaint fill --url` send, and its "
                  "largest (1024x1024) and oversize requests.")
flags.DEFINE_string("data_dir", None, "--photos: the data folder with photos/kodak (default "
                    "$TFINPAINT_DATA_DIR).")
FLAGS = flags.FLAGS
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ("conv", "ae_patch", "cvae")
KINDS = {"normal": 0.52, "largest": 0.06, "oversize": 0.10, "malformed": 0.20, "slow": 0.09,
         "stalled": 0.03}


# --- the server process ----------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def served():
    return MODELS + (("photos",) if FLAGS.photos else ())


def export_models(folder):
    from tfinpaint import export, models, pretrained

    if FLAGS.photos:
        pretrained.export("photos", os.path.join(folder, "photos"), version=1)
    for name in MODELS:
        model = models.build(name, 12, seed=0, **({"image_size": 32} if name == "cvae" else {}))
        export.export(model, os.path.join(folder, name), getattr(model, "fixed_size", None))


def start_server(models_dir, port, log_path):
    config = os.path.join(os.path.dirname(log_path), "models.config")
    with open(config, "w") as f:
        f.write("model_config_list {\n" + "".join(
            f'  config {{ name: "{m}" base_path: "{os.path.join(models_dir, m)}" '
            'model_platform: "tensorflow" }\n' for m in served()) + "}\n")
    program = [FLAGS.server_script] if FLAGS.server_script else ["-m", "serving.server"]
    cmd = [sys.executable, *program, f"--model_config_file={config}", f"--rest_api_port={port}",
           "--file_system_poll_wait_seconds=0", *FLAGS.server_args]
    env = dict(os.environ)
    cwd = FLAGS.server_cwd or ROOT
    env["PYTHONPATH"] = os.pathsep.join([cwd, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    log = open(log_path, "w")
    process = subprocess.Popen(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {open(log_path).read()[-3000:]}")
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("the server did not start within 600 s")
        try:
            if all(requests.get(f"{url}/v1/models/{m}", timeout=5).status_code == 200
                   for m in served()):
                return process, url, " ".join(cmd)
        except requests.ConnectionError:
            pass
        time.sleep(0.5)


def memory_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith(field)).split()[1])


class RssSampler(threading.Thread):
    """The server's RSS every 0.1 s (its peak is also read from VmHWM at the end)."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.samples, self.stop = pid, [], threading.Event()

    def run(self):
        while not self.stop.wait(0.1):
            try:
                self.samples.append((time.monotonic(), memory_kb(self.pid, "VmRSS:")))
            except (OSError, StopIteration):
                return


# --- requests ---------------------------------------------------------------------------------

def photo(size, seed):
    y, x = np.mgrid[0:size, 0:size] / size
    rgb = np.stack([np.sin(6 * x + seed), np.cos(5 * y), np.sin(4 * (x + y))], -1) * 100 + 128
    noise = np.random.default_rng(seed).normal(0, 6, rgb.shape)
    return tf.io.encode_png(np.clip(rgb + noise, 0, 255).astype(np.uint8)).numpy()


def black(side):
    return tf.io.encode_png(tf.zeros([side, side, 3], tf.uint8)).numpy()


def forged_png(width, height):
    """A valid PNG signature and IHDR claiming width x height, and no pixel data at all."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr
            + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr)))


def bytes_body(image, hole=None, mask=None):
    return json.dumps({"signature_name": "inpaint_bytes",
                       "instances": [bytes_row(image, mask, hole)]}).encode()


def kodak_crops():
    """[(label, PNG, mask PNG)]: Kodak crops as the page sends them (longer side 768) with an
    elliptic hole (about 10%; white = hole)."""
    import cv2

    paths = photo_paths(os.path.expanduser(resolve_data_dir(FLAGS.data_dir) or ""), "kodak")
    out = []
    for path, (w, h) in zip(paths, [(768, 512), (512, 768), (768, 768), (768, 576)]):
        image = cv2.imread(path)
        image = cv2.cvtColor(cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA),
                             cv2.COLOR_BGR2RGB)
        mask = np.zeros((h, w, 1), np.uint8)
        cv2.ellipse(mask, (w // 2, h // 2), (w // 6, h // 5), 30, 0, 360, 255, -1)
        out.append((f"photos kodak {w}x{h}", tf.io.encode_png(image).numpy(),
                    tf.io.encode_png(mask).numpy()))
    return out


def side(pixels):
    return int(pixels ** 0.5)


def catalogue():
    """{kind: [(label, model, body bytes, extra headers)]}, built once before the clock starts."""
    small = {s: photo(s, s) for s in (64, 96, 128)}
    budget = {"conv": FULL_SIZE_PIXELS, "ae_patch": FULL_SIZE_PIXELS, "cvae": RESAMPLED_PIXELS}
    largest = {m: black(side(budget[m])) for m in MODELS}
    over = {m: black(2 * side(budget[m])) for m in MODELS}
    forged = forged_png(60000, 60000)
    normal = [(f"{m} {s}px", m, bytes_body(small[s], (s // 4, s // 4, 12)), {})
              for m in MODELS for s in small]
    if FLAGS.photos:
        budget["photos"] = FULL_SIZE_PIXELS
        largest["photos"], over["photos"] = largest["conv"], over["conv"]
        normal += [(label, "photos", bytes_body(png, mask=mask), {})
                   for label, png, mask in kodak_crops()]
    good = bytes_body(small[64], (8, 8, 12))
    malformed = [
        ("bad JSON", "conv", b"{not json", {}),
        ("truncated JSON", "conv", good[:len(good) // 2], {}),
        ("JSON array", "conv", b"[1, 2, 3]", {}),
        ("empty body", "conv", b"", {}),
        ("unknown model", "nope", good, {}),
        ("unknown signature", "conv", json.dumps({"signature_name": "x", "instances": [1]}).encode(), {}),
        ("wrong types", "conv", json.dumps({"instances": [{"image": "abc", "mask": 1}]}).encode(), {}),
        ("bad base64", "conv", json.dumps({"signature_name": "inpaint_bytes", "instances": [{
            "image_bytes": {"b64": "!!!"}, "mask_bytes": {"b64": ""}, "hole": [1, 1, 4]}]}).encode(), {}),
        ("not an image", "ae_patch", bytes_body(b"\x00garbage" * 100, (1, 1, 4)), {}),
        ("hole outside", "cvae", bytes_body(small[64], (60, 60, 12)), {}),
        ("body over the limit", "conv", b"x" * 1024, {"Content-Length-Claim": str(64 << 20)}),
    ]
    return {
        "normal": normal,
        "largest": [(f"{m} {side(budget[m])}px black", m,
                     bytes_body(largest[m], (8, 8, 12)), {}) for m in served()],
        "oversize": [(f"{m} {2 * side(budget[m])}px black", m, bytes_body(over[m], (8, 8, 12)), {})
                     for m in served()] + [("60000x60000 forged header", "conv",
                                          bytes_body(forged, (8, 8, 12)), {})],
        "malformed": malformed,
        "slow": [(f"slow {label}", m, body, {}) for label, m, body, _ in normal[:3]],
        "stalled": [("stalled half body", "ae_patch", normal[3][2], {})],
    }


def raw_post(url, model, body, headers, pieces=1, pause=0.0, stall=False, timeout=180.0):
    """POST over a plain socket (for slow and stalled senders and forged Content-Length);
    -> (status, headers dict, body bytes)."""
    host, port = url.split("//")[1].split(":")
    length = int(headers.get("Content-Length-Claim", len(body)))
    head = (f"POST /v1/models/{model}:predict HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {length}\r\n"
            "Connection: close\r\n\r\n").encode()
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(head)
        if stall:
            s.sendall(body[:len(body) // 2])
        else:
            step = max(1, -(-len(body) // pieces))
            for i in range(0, len(body), step):
                s.sendall(body[i:i + step])
                if pause and i + step < len(body):
                    time.sleep(pause)
        data = b""
        while True:
            chunk = s.recv(1 << 16)
            if not chunk:
                break
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    fields = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
    return status, fields, payload


def send(url, kind, item, timeout):
    """One request -> (status, answer headers, answer body bytes)."""
    label, model, body, headers = item
    if kind == "slow":
        return raw_post(url, model, body, headers, pieces=10, pause=0.2, timeout=timeout)
    if kind == "stalled":
        return raw_post(url, model, body, headers, stall=True, timeout=timeout)
    if "Content-Length-Claim" in headers:
        return raw_post(url, model, body, headers, timeout=timeout)
    r = requests.post(f"{url}/v1/models/{model}:predict", data=body, timeout=timeout,
                      headers={"Content-Type": "application/json"})
    return r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content


def client(url, items, deadline, budget, results, seed, timeout):
    rng = random.Random(seed)
    kinds, weights = zip(*KINDS.items())
    while time.monotonic() < deadline and budget.acquire(blocking=False):
        kind = rng.choices(kinds, weights)[0]
        item = rng.choice(items[kind])
        start = time.monotonic()
        record = {"kind": kind, "label": item[0], "model": item[1]}
        try:
            status, headers, payload = send(url, kind, item, timeout)
            record["status"] = status
            try:
                answer = json.loads(payload)
                record["json"] = isinstance(answer, dict) and (
                    "error" in answer if status != 200 else "predictions" in answer)
            except ValueError:
                record["json"] = False
            if status == 503:
                record["retry_after"] = headers.get("retry-after")
        except Exception as e:  # every client-side failure is counted, none stops the test
            record["error"] = f"{type(e).__name__}: {e}"[:300]
        record["seconds"] = time.monotonic() - start
        results.append(record)
        if record.get("status") == 503:
            time.sleep(float(record.get("retry_after") or 1) * rng.uniform(0.5, 1.5))


def serves_normally(url, items):
    """After the load: every model's status and one normal request each answer 200."""
    checks = {}
    for m in served():
        checks[f"{m} status"] = requests.get(f"{url}/v1/models/{m}", timeout=60).status_code
        body = next(b for _, model, b, _ in items["normal"] if model == m)
        r = requests.post(f"{url}/v1/models/{m}:predict", data=body, timeout=FLAGS.request_timeout)
        checks[f"{m} predict"] = r.status_code
    return checks


# --- reports ----------------------------------------------------------------------------------

def percentile(values, q):
    return round(1000 * float(np.percentile(values, q)), 1) if values else None


def summarise(results):
    rows = {}
    for kind in [*KINDS, "all"]:
        mine = [r for r in results if kind in ("all", r["kind"])]
        statuses = {}
        for r in mine:
            key = str(r.get("status", "client error"))
            statuses[key] = statuses.get(key, 0) + 1
        times = [r["seconds"] for r in mine if "status" in r]
        rows[kind] = {"requests": len(mine), "status": dict(sorted(statuses.items())),
                      "p50_ms": percentile(times, 50), "p99_ms": percentile(times, 99)}
    return rows


def single_2048():
    models_dir = FLAGS.models_dir
    tmp = tempfile.mkdtemp(prefix="load_test-")
    if not models_dir:
        models_dir = os.path.join(tmp, "models")
        export_models(models_dir)
    port = free_port()
    process, url, cmd = start_server(models_dir, port, os.path.join(tmp, "server.log"))
    try:
        png = black(2048)
        before = memory_kb(process.pid, "VmHWM:")
        start = time.monotonic()
        r = requests.post(f"{url}/v1/models/conv:predict", data=bytes_body(png, (1018, 1018, 12)),
                          timeout=FLAGS.request_timeout)
        seconds = time.monotonic() - start
        peak = memory_kb(process.pid, "VmHWM:")
    finally:
        process.terminate()
        process.wait(timeout=60)
    entry = {"command": command(), "server": cmd, "png_bytes": len(png), "status": r.status_code,
             "answer": r.text[:300] if r.status_code != 200 else f"{len(r.content)} bytes of JSON",
             "seconds": round(seconds, 2), "server_peak_rss_before_request_mb": round(before / 1024),
             "server_peak_rss_mb": round(peak / 1024), "load_average_1_5_15": os.getloadavg()}
    print(json.dumps(entry, indent=1))
    results = {}
    if os.path.exists(FLAGS.single_out):
        with open(FLAGS.single_out) as f:
            results = json.load(f)
    results.setdefault("machine", machine())
    results.setdefault("request", "one 2048x2048 all-black PNG with a 12-pixel hole, to conv "
                       "(untrained, 64 wide), inpaint_bytes signature")
    results[FLAGS.label] = entry
    write_json(FLAGS.single_out, results)


def write_json(path, data):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # the exports' INFO lines
    if FLAGS.single_2048:
        return single_2048()
    tmp = tempfile.mkdtemp(prefix="load_test-")
    models_dir = FLAGS.models_dir
    if not models_dir:
        models_dir = os.path.join(tmp, "models")
        export_models(models_dir)
    items = catalogue()
    load_before = os.getloadavg()
    process, url, cmd = start_server(models_dir, free_port(), os.path.join(tmp, "server.log"))
    sampler = RssSampler(process.pid)
    sampler.start()
    results, budget = [], threading.BoundedSemaphore(FLAGS.max_requests)
    try:
        rss_start = memory_kb(process.pid, "VmRSS:")
        start = time.monotonic()
        deadline = start + FLAGS.seconds
        threads = [threading.Thread(target=client, args=(url, items, deadline, budget, results,
                                                         FLAGS.seed * 1000 + i,
                                                         FLAGS.request_timeout))
                   for i in range(FLAGS.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - start
        after = serves_normally(url, items)
        alive = process.poll() is None
        peak = memory_kb(process.pid, "VmHWM:")
    finally:
        sampler.stop.set()
        process.terminate()
        process.wait(timeout=60)
    rows = summarise(results)
    errors = [r for r in results if "error" in r]
    not_json = [r for r in results if "status" in r and not r["json"]]
    bad_status = [r for r in results if "status" in r and not (
        r["status"] == 200 or 400 <= r["status"] < 500 or r["status"] == 503)]
    goals = {"peak_rss_under_4_gb": peak < 4 * 1024 * 1024,
             "every_answer_200_4xx_or_503_json": not not_json and not bad_status,
             "no_client_side_errors": not errors,
             "serves_normally_afterwards": alive and all(v == 200 for v in after.values())}
    print(f"\n{len(results)} requests from {FLAGS.clients} clients in {wall:.1f} s "
          f"(new requests for {FLAGS.seconds} s)\n")
    print("| kind | requests | by status | p50 ms | p99 ms |")
    print("|---|---|---|---|---|")
    for kind, row in rows.items():
        by = ", ".join(f"{k}: {v}" for k, v in row["status"].items())
        print(f"| {kind} | {row['requests']} | {by} | {row['p50_ms']} | {row['p99_ms']} |")
    print(f"\nserver RSS: {rss_start / 1024:.0f} MB idle, peak {peak / 1024:.0f} MB (VmHWM)")
    print(f"client-side errors: {len(errors)}; answers not JSON: {len(not_json)}; "
          f"statuses other than 200/4xx/503: {len(bad_status)}")
    print(f"afterwards: {after}")
    for goal, ok in goals.items():
        print(f"{'PASS' if ok else 'FAIL'} {goal}")
    write_json(FLAGS.out, {
        "command": command(), "machine": machine(), "server": cmd,
        "note": "the server and the clients share the machine's cores; other engineers' work "
                "(tests, trainings) may have shared the CPU too: see the load averages",
        "load_average_1_5_15_before": load_before, "load_average_1_5_15_after": os.getloadavg(),
        "clients": FLAGS.clients, "seconds": FLAGS.seconds, "wall_seconds": round(wall, 1),
        "mix": KINDS, "requests": rows,
        "server_rss_idle_mb": round(rss_start / 1024),
        "server_peak_rss_mb": round(peak / 1024),
        "server_rss_samples_mb": [round(kb / 1024) for _, kb in sampler.samples[::10]],
        "client_side_errors": [r["error"] for r in errors][:50],
        "client_side_error_count": len(errors), "answers_not_json": len(not_json),
        "other_statuses": len(bad_status), "afterwards": after, "goals": goals})
    print(f"wrote {FLAGS.out}")
    return 0 if all(goals.values()) else 1


if __name__ == "__main__":
    app.run(main)
