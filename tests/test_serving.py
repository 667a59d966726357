"""The REST client against the local TF-Serving-style server, with real exported models."""
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import requests
import tensorflow as tf

from helpers import ROOT, free_port, png
from serving.client import Client, ServingError, bytes_row
from serving.server import Server, parse_model_config
from tfinpaint import export, models

CONFIG = """
model_config_list {
  config { name: "conv" base_path: "%s/conv" model_platform: "tensorflow" }
  config {
    name: "cvae"  # a fixed-size (32x32) model
    base_path: "%s/cvae"
    model_platform: "tensorflow"
    model_version_policy { all {} }
  }
}
"""


def decode(data):
    return tf.io.decode_png(data).numpy()


@pytest.fixture(scope="module")
def served(tmp_path_factory, export_conv_and_cvae):
    base = tmp_path_factory.mktemp("models")
    export_conv_and_cvae(base)
    config = base / "models.config"
    config.write_text(CONFIG % (base, base))
    with Server(parse_model_config(config.read_text()), port=0, poll_seconds=0.2,
                max_request_bytes=1 << 20) as server:
        yield server, base


@pytest.fixture(scope="module")
def client(served):
    return Client(served[0].url, timeout=120)


def photo(h=40, w=48, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), np.uint8)


def box_mask(h, w, y0, y1, x0, x1, rgba=False):
    if rgba:  # transparent = hole
        m = np.full((h, w, 4), 255, np.uint8)
        m[y0:y1, x0:x1, 3] = 0
        return m
    m = np.zeros((h, w, 1), np.uint8)
    m[y0:y1, x0:x1] = 255
    return m


@pytest.mark.parametrize("model", ["conv", "cvae"])
@pytest.mark.parametrize("rgba", [False, True])
def test_png_round_trip_keeps_known_pixels_bit_for_bit(client, model, rgba):
    image = photo()
    filled = decode(client.inpaint(model, png(image), png(box_mask(40, 48, 5, 17, 9, 21, rgba))))
    hole = np.zeros((40, 48), bool)
    hole[5:17, 9:21] = True
    assert filled.shape == image.shape  # the image's own size, also for the 32x32 model
    np.testing.assert_array_equal(filled[~hole], image[~hole])
    assert (filled[hole] != image[hole]).any()


def test_hole_instead_of_a_mask_and_a_jpeg(client):
    image = photo(24, 36)
    jpeg = tf.io.encode_jpeg(image, quality=95).numpy()
    sent = tf.io.decode_jpeg(jpeg).numpy()
    filled = decode(client.inpaint("conv", jpeg, hole=(3, 2, 10)))
    known = np.ones((24, 36), bool)
    known[2:12, 3:13] = False
    np.testing.assert_array_equal(filled[known], sent[known])


def test_row_and_columnar_json_equal_the_saved_model(served, client):
    _, base = served
    rng = np.random.default_rng(3)
    images = rng.random((2, 32, 32, 3), dtype=np.float32)
    masks = np.ones((2, 32, 32, 1), np.float32)
    masks[0, 4:16, 4:16] = 0
    masks[1, 10:22, 3:15] = 0
    rows = client.predict("conv", {"instances": [{"image": images[i].tolist(), "mask": masks[i].tolist()}
                                                 for i in range(2)]})["predictions"]
    columns = client.predict("conv", {"signature_name": "serving_default",
                                      "inputs": {"image": images.tolist(), "mask": masks.tolist()}})
    direct = tf.saved_model.load(export.latest(str(base / "conv"))).signatures["serving_default"](
        image=tf.constant(images), mask=tf.constant(masks))["inpainted"].numpy()
    np.testing.assert_array_equal(np.array(rows, np.float32), direct)
    np.testing.assert_array_equal(np.array(columns["outputs"], np.float32), direct)


def test_status_and_metadata(client):
    status = client.status("conv")["model_version_status"]
    assert status == [{"version": "1", "state": "AVAILABLE",
                       "status": {"error_code": "OK", "error_message": ""}}]
    meta = client.metadata("cvae")
    assert meta["model_spec"]["name"] == "cvae"
    signatures = meta["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "inpaint_bytes", "sample"} <= set(signatures)
    assert set(signatures["inpaint_bytes"]["inputs"]) == {"image_bytes", "mask_bytes", "hole"}
    assert set(signatures["inpaint_bytes"]["outputs"]) == {"inpainted_bytes"}


GOOD = png(photo(32, 32))
BAD_REQUESTS = [
    ("POST", "conv:predict", "{not json", 400, "JSON Parse error"),
    ("POST", "conv:predict", [1, 2], 400, "JSON object"),
    ("POST", "conv:predict", {"instances": [], "inputs": {}}, 400, "Not both"),
    ("POST", "conv:predict", {"signature_name": "serving_default"}, 400, "Missing 'inputs' or 'instances'"),
    ("POST", "nope:predict", {"instances": [1]}, 404, "Servable not found"),
    ("POST", "conv/versions/9:predict", {"instances": [1]}, 404, r"Specific\(conv, 9\)"),
    ("POST", "conv:predict", {"signature_name": "nope", "instances": [1]}, 400, "nope"),
    ("POST", "conv:predict", {"inputs": {"image": [[0.5]], "mask": [[1.0]]}}, 400, "shape"),
    ("POST", "conv:predict", {"inputs": {"image": [[[[0.5, 0.5, 0.5]]]]}}, 400, "do not match"),
    ("POST", "conv:predict", {"instances": [{"image": [[[0.5, 0.5]], [[0.5]]], "mask": [[[1]]]}]},
     400, "rectangular"),
    ("POST", "conv:predict", {"instances": [{"image": "abc", "mask": [[[1]]]}]}, 400, "float"),
    ("POST", "conv:predict", {"signature_name": "inpaint_bytes",  # its header claims 28192x29807
                              "instances": [bytes_row(b"GIF89a not really", hole=(1, 1, 4))]}, 413,
     "28192x29807"),
    ("POST", "conv:predict", {"signature_name": "inpaint_bytes",
                              "instances": [bytes_row(b"\x00garbage", hole=(1, 1, 4))]},
     400, "image_bytes is not a PNG, JPEG"),
    ("POST", "conv:predict", {"signature_name": "inpaint_bytes", "instances": [
        bytes_row(GOOD, png(box_mask(16, 16, 1, 4, 1, 4)))]}, 400, "mask_bytes is 16x16.*same size"),
    ("POST", "conv:predict", {"signature_name": "inpaint_bytes", "instances": [
        bytes_row(GOOD, png(np.zeros((32, 32, 1), np.uint8)))]}, 400, "mask_bytes has no hole"),
    ("POST", "conv:predict", {"signature_name": "inpaint_bytes", "instances": [
        bytes_row(GOOD, hole=(30, 30, 8))]}, 400, "does not fit"),
    ("POST", "conv:predict", {"signature_name": "inpaint_bytes", "instances": [
        {"image_bytes": {"b64": "!!notbase64"}, "mask_bytes": "", "hole": [1, 1, 4]}]}, 400, "base64"),
    ("POST", "conv:classify", {"instances": [1]}, 400, "only predict"),
    ("GET", "conv:predict", None, 400, "Malformed request"),  # as TF Serving (issue 27)
    ("GET", "nope", None, 404, "Could not find any versions"),
    ("GET", "conv/versions/5/metadata", None, 404, "Servable not found"),
]


@pytest.mark.parametrize("method,path,body,status,match", BAD_REQUESTS,
                         ids=[f"{i}-{b[4] or 'truncated'}" for i, b in enumerate(BAD_REQUESTS)])
def test_malformed_requests_get_a_json_error_and_the_server_keeps_serving(
        served, client, method, path, body, status, match):
    url = f"{served[0].url}/v1/models/{path}"
    data = body if isinstance(body, str) or body is None else json.dumps(body)
    answer = requests.request(method, url, data=data, timeout=60)
    assert answer.status_code == status, answer.text
    assert set(answer.json()) == {"error"}
    if match:
        assert __import__("re").search(match, answer.json()["error"]), answer.json()["error"]
    assert decode(client.inpaint("conv", GOOD, hole=(4, 4, 8))).shape == (32, 32, 3)


def test_oversize_body_is_refused(served, client):
    answer = requests.post(f"{served[0].url}/v1/models/conv:predict", data=b"x" * (2 << 20),
                           timeout=60)
    assert answer.status_code == 413 and "max_request_bytes" in answer.json()["error"]
    assert client.status("conv")


def test_concurrent_requests(client):
    image = png(photo(32, 32, seed=5))
    expected = client.inpaint("conv", image, hole=(8, 8, 12))
    results, errors = [], []

    def worker():
        try:
            for _ in range(3):
                results.append(client.inpaint("conv", image, hole=(8, 8, 12)))
        except Exception as e:  # collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 24 and all(r == expected for r in results)


def test_a_new_version_is_picked_up_without_a_restart(served, client):
    server, base = served
    export.export(models.build("conv", 12, seed=1, depth=1, filters=8), str(base / "conv"))
    deadline = time.monotonic() + 60
    while client.status("conv")["model_version_status"][0]["version"] != "2":
        assert time.monotonic() < deadline, "version 2 was never loaded"
        time.sleep(0.2)
    assert client.metadata("conv")["model_spec"]["version"] == "2"
    # policy latest: version 1 is unloaded
    with pytest.raises(ServingError, match="Could not find version 1"):
        client.status("conv", version=1)
    with pytest.raises(ServingError, match=r"Specific\(conv, 1\)"):
        client.inpaint("conv", GOOD, hole=(4, 4, 8), version=1)
    # the cvae config says `all {}`: both versions are served
    export.export(models.build("cvae", 12, image_size=32, latent_dim=8, seed=1), str(base / "cvae"), 32)
    while len(client.status("cvae")["model_version_status"]) != 2:
        assert time.monotonic() < deadline, "cvae version 2 was never loaded"
        time.sleep(0.2)
    assert client.inpaint("cvae", GOOD, hole=(4, 4, 8), version=1) != b""


def test_saved_model_cli_run_gives_the_same_output(served, tmp_path):
    path = export.latest(str(served[1] / "cvae"))
    rng = np.random.default_rng(4)
    images = rng.random((2, 32, 32, 3), dtype=np.float32)
    masks = np.ones((2, 32, 32, 1), np.float32)
    masks[:, 8:20, 8:20] = 0
    np.save(tmp_path / "x.npy", images)
    np.save(tmp_path / "m.npy", masks)
    out = subprocess.run(["saved_model_cli", "run", "--dir", path, "--tag_set", "serve",
                          "--signature_def", "serving_default", "--inputs",
                          f"image={tmp_path / 'x.npy'};mask={tmp_path / 'm.npy'}",
                          "--outdir", str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    direct = tf.saved_model.load(path).signatures["serving_default"](
        image=tf.constant(images), mask=tf.constant(masks))["inpainted"].numpy()
    np.testing.assert_allclose(np.load(tmp_path / "out" / "inpainted.npy"), direct, atol=1e-6)


def test_model_config_policies():
    configs = parse_model_config("""model_config_list {
      config { name: "a" base_path: "/m/a" model_platform: "tensorflow" }
      config { name: "b" base_path: "/m/b" model_platform: "tensorflow"
               model_version_policy { specific { versions: 3 versions: 1 } } }
      config { name: "c" base_path: "/m/c" model_type: TENSORFLOW
               model_version_policy { latest { num_versions: 2 } } }
      config { name: "d" base_path: "/m/d" model_platform: "tensorflow" model_version_policy { all {} } }
    }""")
    assert [(c["name"], c["policy"]) for c in configs] == [
        ("a", ("latest", 1)), ("b", ("specific", [1, 3])), ("c", ("latest", 2)), ("d", ("all",))]
    with pytest.raises(ValueError, match='no field named "config"'):
        parse_model_config("config { name: 'x' }")
    with pytest.raises(ValueError, match="tensorflow"):
        parse_model_config('model_config_list { config { name: "a" base_path: "/a" '
                           'model_platform: "pytorch" } }')


def test_shipped_models_config_names_every_method():
    configs = parse_model_config(open(os.path.join(ROOT, "serving", "models.config")).read(),
                                 base_path_root=ROOT)
    assert set(models.METHODS) <= {c["name"] for c in configs}
    assert all(c["base_path"] == os.path.join(ROOT, "serving", "models", c["name"]) for c in configs)


def test_server_and_client_commands(served, tmp_path):
    """`python -m serving.server` for one model, and `python -m serving.client` on a folder."""
    port = free_port()
    relative = os.path.relpath(served[1] / "conv", ROOT)  # made absolute, with a warning
    server = subprocess.Popen([sys.executable, "-m", "serving.server", "--model_name=conv",
                               f"--model_base_path={relative}", f"--rest_api_port={port}"],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.stdout.read()[-2000:]
            assert time.monotonic() < deadline, "the server did not start"
            try:
                if requests.get(f"{url}/v1/models/conv", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.5)
        photos = tmp_path / "photos"
        photos.mkdir()
        for i in range(2):
            (photos / f"p{i}.png").write_bytes(png(photo(20 + 4 * i, 30, seed=i)))
        client = [sys.executable, "-m", "serving.client", f"--url={url}", f"--image={photos}"]
        bad = subprocess.run([*client, "--model=nope", "--hole=2,2,6", f"--output={tmp_path / 'x'}"],
                             cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert bad.returncode == 1 and "Servable not found" in bad.stderr
        assert not (tmp_path / "x").exists()  # nothing written when a request fails
        ok = subprocess.run([*client, "--model=conv", "--hole=2,2,6", f"--output={tmp_path / 'out'}"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert ok.returncode == 0, ok.stderr[-2000:]
        assert sorted(os.listdir(tmp_path / "out")) == ["p0.png", "p1.png"]
        assert decode((tmp_path / "out" / "p1.png").read_bytes()).shape == (24, 30, 3)
    finally:
        server.terminate()
        server.wait(timeout=60)


EVERY_METHOD = {  # tiny versions of each method (the signature code is the same at any width)
    "conv": dict(depth=1, filters=8), "ae": {}, "ae_patch": {}, "cvae": dict(latent_dim=8),
    "cvae_patch": dict(latent_dim=8), "gan": dict(filters=8),
    "gan_global": dict(filters=8, global_discriminator=True),
    "dcgan": dict(image_size=32, filters=16, latent_dim=16, z_steps=5),
    "context_encoder": dict(image_size=32, filters=16, bottleneck=32, d_filters=16),
}


@pytest.mark.parametrize("name", sorted(EVERY_METHOD))
def test_every_method_fills_a_png_of_another_size(name, tmp_path):
    method = "gan" if name == "gan_global" else name
    model = models.build(method, 12, seed=0, **{"image_size": 32, **EVERY_METHOD[name]})
    path = export.export(model, str(tmp_path / name), getattr(model, "fixed_size", None))
    signature = tf.saved_model.load(path).signatures["inpaint_bytes"]
    image = photo(45, 61)
    mask = box_mask(45, 61, 20, 32, 30, 42)
    out = signature(image_bytes=tf.constant([png(image), png(image)]),
                    mask_bytes=tf.constant([png(mask), b""]),
                    hole=tf.constant([[0, 0, 0], [3, 4, 12]]))["inpainted_bytes"].numpy()
    holes = [mask[..., 0] == 255, np.zeros((45, 61), bool)]
    holes[1][4:16, 3:15] = True
    for filled, hole in zip(map(decode, out), holes):
        assert filled.shape == image.shape
        np.testing.assert_array_equal(filled[~hole], image[~hole])
        assert (filled[hole] != image[hole]).mean() > 0.5
