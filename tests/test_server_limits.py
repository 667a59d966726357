"""Bounded work in the local REST server and the checks it shares with the command line: pixel
budgets read from image headers, a bounded inference queue (503 + Retry-After), slow senders
(408), model configs read with TF Serving's protos, failed versions retried, quiet start-up, and a
short run of benchmarks/load_test.py. Real exported models and real HTTP throughout."""
import base64
import io
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
import zlib
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

import numpy as np
import pytest
import requests
import tensorflow as tf
from google.protobuf import text_format
from PIL import Image
from tensorflow_serving.config import model_server_config_pb2
from werkzeug.test import Client as WsgiClient

from helpers import ROOT, png
from serving.client import Client, ServingError, bytes_row
from serving.server import (ConfigError, Limits, ModelManager, Server, Workers, make_app,
                            parse_model_config)
from tfinpaint import export, inpaint, models
from tfinpaint.inpaint import (FULL_SIZE_PIXELS, RESAMPLED_PIXELS, InputError, TooManyPixels,
                               image_size, too_many_pixels)


def black_png(width, height, channels=3):
    return png(tf.zeros([height, width, channels], tf.uint8))


def forged_png(width, height):
    """A PNG signature and IHDR claiming width x height, and no pixel data: if anything tried
    to decode it, the decoder would fail (a 400), not the pixel budget (a 413)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr
            + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr)))


def photo(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), np.uint8)


def row(image, hole=(4, 4, 8), mask=None):
    return bytes_row(image, mask, hole)


def bytes_request(*rows):
    return {"signature_name": "inpaint_bytes", "instances": list(rows)}


def config_for(base, names):
    return [{"name": n, "base_path": str(base / n), "policy": ("latest", 1)} for n in names]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """Tiny exports: conv (runs at the image's size), cvae (fixed 32x32), ae_patch; and `gate`,
    a SavedModel whose serving_default spins until the file `open` exists beside it."""
    base = tmp_path_factory.mktemp("limits")
    export.export(models.build("conv", 12, seed=0, depth=1, filters=8), str(base / "conv"))
    export.export(models.build("cvae", 12, image_size=32, latent_dim=8, seed=0),
                  str(base / "cvae"), 32)
    export.export(models.build("ae_patch", 12, seed=0), str(base / "ae_patch"))
    save_gate(base / "gate", base / "open")
    return base


def save_gate(folder, flag):
    """A SavedModel (version 1 in `folder`) whose serving_default spins until `flag` exists
    (`flag=None`: returns at once)."""
    flag = str(flag) if flag else None

    class Gate(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def serve(self, x):
            if flag is None:
                return {"y": x + 1.0}
            def closed(i):  # the pattern depends on i (it is `flag` itself), so the file
                # check cannot be hoisted out of the loop and evaluated only once
                pattern = tf.strings.join([flag, tf.strings.substr(tf.strings.as_string(i), 0, 0)])
                return tf.equal(tf.size(tf.io.matching_files(pattern)), 0)

            spun = tf.while_loop(closed, lambda i: i + 1, [tf.constant(0)])[0]
            with tf.control_dependencies([spun]):
                return {"y": x + 1.0}

    gate = Gate()
    tf.saved_model.save(gate, str(folder / "1"), signatures={"serving_default": gate.serve})


@pytest.fixture(scope="module")
def server(base):
    with Server(config_for(base, ["conv", "cvae"]), port=0, poll_seconds=0) as server:
        yield server


def post(url, model, body, **kwargs):
    return requests.post(f"{url}/v1/models/{model}:predict", data=json.dumps(body), timeout=300,
                         **kwargs)


# --- pixel budgets ----------------------------------------------------------------------------

def test_worst_case_request_gets_its_413_from_the_header_then_a_normal_one_succeeds(server):
    hint = " for model conv (--max_pixels)"
    forged = post(server.url, "conv", bytes_request(row(forged_png(60000, 60000))))
    assert forged.status_code == 413, forged.text
    assert forged.json() == {"error": too_many_pixels("image_bytes[0]", 60000, 60000,
                                                      FULL_SIZE_PIXELS, hint=hint)}
    # the issue's request: a 2048x2048 all-black PNG (12 KB) with a 12-pixel hole
    issue = post(server.url, "conv", bytes_request(row(black_png(2048, 2048), (1000, 1000, 12))))
    assert issue.status_code == 413 and "2048x2048 = 4,194,304 pixels" in issue.json()["error"]
    webp = io.BytesIO()
    Image.new("RGB", (2048, 2048)).save(webp, "WEBP")
    issue = post(server.url, "conv", bytes_request(row(webp.getvalue(), (1000, 1000, 12))))
    assert issue.status_code == 413 and "2048x2048 = 4,194,304 pixels" in issue.json()["error"]
    normal = post(server.url, "conv", bytes_request(row(png(photo(32, 32)))))
    assert normal.status_code == 200, normal.text
    filled = tf.io.decode_png(base64.b64decode(normal.json()["predictions"][0]["b64"])).numpy()
    assert filled.shape == (32, 32, 3)


def test_budget_follows_the_kind_of_model(server):
    """A fixed-size model resamples, so the same 2048x2048 image is within its budget."""
    answer = post(server.url, "cvae", bytes_request(row(black_png(2048, 2048), (1000, 1000, 12))))
    assert answer.status_code == 200, answer.text[:500]
    filled = tf.io.decode_png(base64.b64decode(answer.json()["predictions"][0]["b64"]))
    assert filled.shape == (2048, 2048, 3)
    side = int(RESAMPLED_PIXELS ** 0.5) + 1
    over = post(server.url, "cvae", bytes_request(row(forged_png(side, side))))
    assert over.status_code == 413 and "--max_pixels_resampled" in over.json()["error"]


def test_a_request_counts_all_its_images_but_a_mask_not_twice(server):
    two = post(server.url, "conv", bytes_request(row(black_png(800, 800)), row(black_png(800, 800))))
    assert two.status_code == 413 and "2 images have 1,280,000 pixels in all" in two.json()["error"]
    mask = np.zeros((1000, 1000, 1), np.uint8)
    mask[10:30, 10:30] = 255
    one = post(server.url, "conv", bytes_request(row(black_png(1000, 1000), mask=png(mask))))
    assert one.status_code == 200, one.text[:500]


def test_samples_multiply_the_pixels(server):
    body = {"signature_name": "sample", "inputs": {
        "image": np.zeros((1, 32, 32, 3)).tolist(), "mask": np.ones((1, 32, 32, 1)).tolist(),
        "samples": 100000, "seed": 1}}
    answer = post(server.url, "cvae", body)
    assert answer.status_code == 413 and "32x32 x 100000" in answer.json()["error"]


def test_per_model_budget(base):
    manager = ModelManager(config_for(base, ["conv"]))
    manager.refresh()
    app = WsgiClient(make_app(manager, Workers(1, 0), Limits(per_model={"conv": 32 * 32})))
    fits = app.post("/v1/models/conv:predict", json=bytes_request(row(png(photo(32, 32)))))
    assert fits.status_code == 200
    over = app.post("/v1/models/conv:predict", json=bytes_request(row(png(photo(32, 33)))))
    assert over.status_code == 413 and "--model_max_pixels" in over.json["error"]


def test_cli_and_python_api_refuse_with_the_same_message(base, tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(black_png(2048, 2048))
    out = tmp_path / "out.png"
    with pytest.raises(TooManyPixels) as e:
        list(inpaint.inpaint_paths(str(base / "conv"), str(big), str(out), hole="1,1,8"))
    expected = too_many_pixels(f"image {str(big)!r}", 2048, 2048, FULL_SIZE_PIXELS,
                               hint=" for this model (max_pixels)")
    assert str(e.value) == expected and not out.exists()
    done = list(inpaint.inpaint_paths(str(base / "conv"), str(big), str(out), hole="1,1,8",
                                      max_pixels=2048 * 2048))
    assert done == [(str(big), str(out))]
    cli = subprocess.run([sys.executable, "-m", "tfinpaint.main", "--mode=inpaint",
                          f"--model={base / 'conv'}", f"--image={big}", "--hole=1,1,8",
                          f"--output={tmp_path / 'cli.png'}"], cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    # quiet start-up: our message is the first (and only) thing on stderr
    assert cli.returncode == 2 and cli.stderr == f"tfinpaint: error: {expected}\n", cli.stderr


def test_image_size_reads_headers_only():
    pixels = photo(37, 53)
    for channels in (1, 3, 4):
        data = png(np.repeat(pixels[..., :1], channels, -1) if channels != 3 else pixels)
        assert image_size(data) == (53, 37)
    jpeg = tf.io.encode_jpeg(pixels, progressive=True).numpy()
    assert image_size(jpeg) == (53, 37)
    app1 = b"\xff\xe1" + struct.pack(">H", 2 + 5000) + b"Exif\0" + b"\0" * 4995  # metadata first
    assert image_size(jpeg[:2] + app1 + jpeg[2:]) == (53, 37)
    assert tf.io.decode_jpeg(jpeg[:2] + app1 + jpeg[2:]).shape == (37, 53, 3)
    for fmt in ("GIF", "BMP", "WEBP"):
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, fmt)
        assert image_size(buffer.getvalue()) == (53, 37)
        assert tf.io.decode_image(buffer.getvalue(), expand_animations=False).shape[:2] == (37, 53)
    for junk in (b"", b"\x89PNG\r\n\x1a\n", b"GIF8", b"\xff\xd8\xff\xda\x00\x02", b"not an image",
                 b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0", b"RIFF\x20\0\0\0WEBP\x2f" + b"\0" * 20):
        assert image_size(junk) is None


# --- bounded concurrency ----------------------------------------------------------------------

def test_a_full_queue_answers_503_at_once_and_the_held_requests_finish(base):
    """1 worker + 1 waiting place: of three requests to a model that blocks until the file
    `open` exists, one must be refused (503) while the other two are held; opening the gate
    lets them finish."""
    with Server(config_for(base, ["gate", "conv"]), port=0, poll_seconds=0, num_workers=1,
                max_queued_requests=1, timeout=600) as server:
        with ThreadPoolExecutor(3) as pool:
            futures = [pool.submit(post, server.url, "gate", {"instances": [1.0]})
                       for _ in range(3)]
            done, _ = wait(futures, timeout=300, return_when=FIRST_COMPLETED)
            assert done, "no request was answered"
            refused = next(iter(done)).result()
            assert refused.status_code == 503, refused.text
            assert refused.headers["Retry-After"] == "1" and "busy" in refused.json()["error"]
            (base / "open").write_text("")
            answers = [f.result() for f in futures]
        assert sorted(a.status_code for a in answers) == [200, 200, 503]
        assert [a.json() for a in answers if a.status_code == 200] == [{"predictions": [2.0]}] * 2
        normal = post(server.url, "conv", bytes_request(row(png(photo(32, 32)))))
        assert normal.status_code == 200


def raw_post(url, model, body, pieces, pause, stall=False):
    host, port = url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=300) as s:
        s.sendall(f"POST /v1/models/{model}:predict HTTP/1.1\r\nHost: {host}\r\nContent-Length: "
                  f"{len(body)}\r\nContent-Type: application/json\r\n\r\n".encode())
        if stall:
            s.sendall(body[:len(body) // 2])
        else:
            step = -(-len(body) // pieces)
            for i in range(0, len(body), step):
                s.sendall(body[i:i + step])
                time.sleep(pause)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(payload)


def test_slow_senders_get_408_and_do_not_block_others(base):
    with Server(config_for(base, ["conv"]), port=0, poll_seconds=0, timeout=5.0) as server:
        body = json.dumps(bytes_request(row(png(photo(32, 32))))).encode()
        with ThreadPoolExecutor(1) as pool:
            stalled = pool.submit(raw_post, server.url, "conv", body, 1, 0, True)
            status, answer = raw_post(server.url, "conv", body, pieces=4, pause=0.05)
            assert status == 200 and "predictions" in answer
            status, answer = stalled.result()
        assert status == 408 and "did not arrive within 5 s" in answer["error"]


# --- model config and version lifecycle ---------------------------------------------------------

SYNTAX_ERRORS = [
    'config { name: "x" }',  # the list missing around it
    'model_config_list { config { name: "a" bogus: 1 } }',
    'model_config_list { config { name: "a" base_path: 3 } }',
    'model_config_list { config { name: "a" ',
    'model_config_list { config { name: "a" model_version_policy { latest { num_versions: -1 } } } }',
    'model_config_list { config { name: "a" model_version_policy { newest {} } } }',
]


@pytest.mark.parametrize("text", SYNTAX_ERRORS)
def test_config_syntax_errors_get_text_formats_own_message(text):
    with pytest.raises(text_format.ParseError) as expected:
        text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    with pytest.raises(ConfigError) as got:
        parse_model_config(text)
    assert str(got.value) == str(expected.value)


SERVER_CORE_ERRORS = [  # what TF Serving's ServerCore answers to these
    ('config { name: "a" base_path: "models/a" model_platform: "tensorflow" }',
     "Expected model a to have an absolute path or URI; got base_path()=models/a"),
    ('config { name: "a" base_path: "/a" model_platform: "tensorflow" } '
     'config { name: "a" base_path: "/b" model_platform: "tensorflow" }',
     "Illegal to list model a multiple times in config list"),
    ('config { name: "a" base_path: "/a" }',
     "Illegal setting neither ModelServerConfig::model_type (deprecated) nor "
     "ModelServerConfig::model_platform."),
    ('config { name: "a" base_path: "/a" model_type: TENSORFLOW model_platform: "tensorflow" }',
     "Illegal setting both ModelServerConfig::model_type (deprecated) and "
     "ModelServerConfig::model_platform."),
]


@pytest.mark.parametrize("text,message", SERVER_CORE_ERRORS)
def test_configs_tf_serving_refuses_are_refused(text, message):
    with pytest.raises(ConfigError) as got:
        parse_model_config(f"model_config_list {{ {text} }}")
    assert str(got.value) == message


def test_empty_config_serves_nothing_as_tf_serving_does():
    assert parse_model_config("") == []
    assert parse_model_config("# nothing yet\n") == []


def test_shipped_config_loads_and_the_command_line_refuses_a_bad_one(tmp_path):
    shipped = parse_model_config(open(os.path.join(ROOT, "serving", "models.config")).read())
    assert set(models.METHODS) <= {c["name"] for c in shipped}  # every method (a new one too)
    assert all(c["base_path"] == f"/serving/models/{c['name']}" for c in shipped)
    bad = tmp_path / "bad.config"
    bad.write_text(SYNTAX_ERRORS[1])
    with pytest.raises(text_format.ParseError) as expected:
        text_format.Parse(SYNTAX_ERRORS[1], model_server_config_pb2.ModelServerConfig())
    run = subprocess.run([sys.executable, "-m", "serving.server", f"--model_config_file={bad}"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    # nothing of TensorFlow's before our one line
    assert run.returncode == 2 and run.stdout == "", run.stdout
    assert run.stderr == f"serving.server: error: {bad}: {expected.value}\n", run.stderr


def test_a_version_that_failed_to_load_is_retried_and_reported(base, tmp_path):
    models_dir = tmp_path / "m"
    (models_dir / "1").mkdir(parents=True)
    (models_dir / "1" / "saved_model.pb").write_bytes(b"not a SavedModel")
    with Server([{"name": "m", "base_path": str(models_dir), "policy": ("latest", 1)}], port=0,
                poll_seconds=0.2) as server:
        client = Client(server.url)
        (status,) = client.status("m")["model_version_status"]
        assert status["version"] == "1" and status["state"] == "END"
        assert status["status"]["error_code"] != "OK" and status["status"]["error_message"]
        good = export.export(models.build("conv", 12, seed=0, depth=1, filters=8),
                             str(tmp_path / "good"))
        shutil.rmtree(models_dir / "1")
        os.rename(good, models_dir / "1")
        deadline = time.monotonic() + 300
        while client.status("m")["model_version_status"][0]["state"] != "AVAILABLE":
            assert time.monotonic() < deadline, "the fixed version was never loaded"
            time.sleep(0.2)
        assert client.status("m")["model_version_status"] == [
            {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK",
                                                             "error_message": ""}}]


# --- the client ---------------------------------------------------------------------------------

def test_client_validates_with_exceptions_even_under_python_O(tmp_path):
    closed = Client("http://127.0.0.1:9", retries=0)  # never reached: refused before sending
    with pytest.raises(InputError, match="three integers"):
        closed.inpaint("conv", b"\x89PNG...", hole="1,2")
    with pytest.raises(InputError, match="three integers"):
        closed.inpaint("conv", b"\x89PNG...", hole=(1, 2))
    with pytest.raises(ValueError, match="mask or a hole"):
        closed.inpaint("conv", b"\x89PNG...")
    image = tmp_path / "a.png"
    image.write_bytes(png(photo(8, 8)))
    run = subprocess.run([sys.executable, "-O", "-m", "serving.client", "--url=http://127.0.0.1:9",
                          "--model=conv", f"--image={image}", "--hole=1,2",
                          f"--output={tmp_path / 'o.png'}"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 1 and "--hole must be x,y,size (three integers)" in run.stderr


def test_client_retries_a_503_after_its_retry_after_a_bounded_number_of_times(tmp_path):
    """One worker, no waiting place, held by a request to a closed gate: the client's request
    is refused with 503 + Retry-After; it waits and retries, and succeeds once the gate opens.
    With the gate kept closed it gives up after its `retries` and reports the 503."""
    save_gate(tmp_path / "gate", tmp_path / "open")
    save_gate(tmp_path / "quick", None)
    configs = [{"name": n, "base_path": str(tmp_path / n), "policy": ("latest", 1)}
               for n in ("gate", "quick")]
    with Server(configs, port=0, poll_seconds=0, num_workers=1, max_queued_requests=0,
                timeout=600) as server, ThreadPoolExecutor(2) as pool:
        try:
            holder = pool.submit(post, server.url, "gate", {"instances": [1.0]})
            deadline = time.monotonic() + 120
            while post(server.url, "quick", {"instances": [0.0]}).status_code != 503:
                assert time.monotonic() < deadline, "the gate never held the worker"
                if holder.done():  # refused while a probe had the worker: try again
                    assert holder.result().status_code == 503, holder.result().text
                    holder = pool.submit(post, server.url, "gate", {"instances": [1.0]})
                time.sleep(0.2)  # until the holder has the worker (a quick model is refused)
            with pytest.raises(ServingError, match="HTTP 503.*busy"):
                Client(server.url, retries=2).predict("gate", {"instances": [1.0]})
            retried = pool.submit(Client(server.url, retries=8).session.post,
                                  f"{server.url}/v1/models/gate:predict",
                                  json={"instances": [3.0]}, timeout=120)
            time.sleep(2.5)  # at least two refusals and waits
        finally:
            (tmp_path / "open").write_text("")  # never leave a request spinning
        answer = retried.result(timeout=120)
        assert answer.status_code == 200, (answer.status_code, answer.text)
        assert holder.result(timeout=120).status_code == 200
    assert answer.json() == {"predictions": [4.0]}
    history = answer.raw.retries.history
    assert len(history) >= 2 and {h.status for h in history} == {503}, history


# --- the load test, short -----------------------------------------------------------------------

def test_short_load_test(base, tmp_path):
    """6 clients for 4 s. Malformed and oversized requests are refused before the inference
    queue, so the seeded mix's first requests (client 0: malformed, client 5: oversize) must get
    their 4xx."""
    out = tmp_path / "load.json"
    run = subprocess.run([sys.executable, "benchmarks/load_test.py", "--seconds=4", "--clients=6",
                          f"--models_dir={base}", f"--out={out}", "--request_timeout=300",
                          "--server_args=--rest_api_timeout_in_ms=2000"],
                         cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["goals"] == {"peak_rss_under_4_gb": True, "every_answer_200_4xx_or_503_json": True,
                               "no_client_side_errors": True, "serves_normally_afterwards": True}, \
        run.stdout[-3000:]
    statuses = result["requests"]["all"]["status"]
    assert statuses.get("200") and statuses.get("413"), statuses
    assert run.returncode == 0
