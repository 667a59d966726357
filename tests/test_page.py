"""The browser page (serving/page/) in a real headless Chromium, against the local server with
real exports: upload a photo, brush a hole, fill with two models, check the PNGs that came back.

Needs Debian's `chromium` and `chromium-driver` (the README test command installs them) and
selenium. Without them the tests are skipped, except under CI=true, where that is a failure.
Set TFINPAINT_PAGE_SCREENSHOT=path.png to keep the screenshot of the page with its fills.
"""
import base64
import os
import shutil
import time

import keras
import numpy as np
import pytest
import requests
import tensorflow as tf

from helpers import ROOT, free_port
from serving.server import Server
from tfinpaint import export, models

CHROMIUM = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]


def _missing(what):
    message = (f"{what}; install it with: apt-get install -y chromium chromium-driver && "
               "pip install -e '.[test]' (see BUILD.md)")
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium is not installed")
    binary = next((shutil.which(b) for b in CHROMIUM if shutil.which(b)), None)
    chromedriver = shutil.which("chromedriver")
    if not binary or not chromedriver:
        _missing(f"no {'Chromium' if not binary else 'chromedriver'} on PATH")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic",
                 "--window-size=1360,1000", "--force-device-scale-factor=1",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(chromedriver), options=options)
    browser.set_script_timeout(60)
    yield browser
    browser.quit()


def _trained(method, images, steps, **settings):
    """A model trained for a few steps on real cars (so the fills look like something)."""
    model = models.build(method, 12, seed=0, image_size=32, **settings)
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    data = tf.data.Dataset.from_tensor_slices(images[:steps * 32].astype(np.float32) / 255.0)
    started = time.monotonic()
    model.fit(data.batch(32), epochs=1, verbose=0, shuffle=False)
    print(f"{method}: {steps} steps in {time.monotonic() - started:.1f} s")
    return model


@pytest.fixture(scope="module")
def server(tmp_path_factory, data_dir):
    base = tmp_path_factory.mktemp("page-models")
    with np.load(os.path.join(data_dir, "cifar10_cars.npz")) as f:
        train = f["x_train"][:150 * 32]
    export.export(_trained("conv", train, 50, depth=2, filters=16), str(base / "conv"))
    export.export(_trained("unet", train, 50, filters=8), str(base / "unet"))
    configs = [{"name": n, "base_path": str(base / n), "policy": ("latest", 1)}
               for n in ("conv", "unet", "not_exported")]
    with Server(configs, port=0, poll_seconds=0) as s:
        yield s


@pytest.fixture(scope="module")
def photo(test_cars, tmp_path_factory):
    """A 64 x 96 PNG: six test cars in a 2 x 3 mosaic (any size works for these models)."""
    pixels = np.concatenate([np.concatenate(list(test_cars[r * 3:r * 3 + 3]), axis=1)
                             for r in range(2)], axis=0)
    path = tmp_path_factory.mktemp("photo") / "cars.png"
    path.write_bytes(tf.io.encode_png(pixels).numpy())
    return str(path), pixels


def _wait(driver, condition, what, timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; page says: "
                                 + driver.find_element("tag name", "body").text[:2000])
        time.sleep(0.1)


DROP = """
    const [b64, name, type] = arguments;
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const data = new DataTransfer();
    data.items.add(new File([bytes], name, {type}));
    document.getElementById("stage").dispatchEvent(
        new DragEvent("drop", {dataTransfer: data, bubbles: true, cancelable: true}));"""


def _open(driver, server, photo_path, drop=None):
    """Loads the page and a photo: through the file chooser, or dropped as (bytes, name, type)."""
    driver.get(server.url + "/")
    _wait(driver, lambda: len(driver.find_elements("css selector", "#models input")) == 3,
          "the model list")
    if drop:
        driver.execute_script(DROP, base64.b64encode(drop[0]).decode(), *drop[1:])
    else:
        driver.find_element("id", "file").send_keys(photo_path)
    _wait(driver, lambda: "empty" not in driver.find_element("id", "stage").get_attribute("class"),
          "the photo on the canvas")
    canvas = driver.find_element("id", "hole")
    scale = canvas.size["width"] / int(canvas.get_attribute("width"))
    return canvas, scale


def _drag(driver, canvas, scale, points):
    """Presses the mouse at the first image point (x, y), moves through the others, releases."""
    from selenium.webdriver.common.action_chains import ActionChains

    w, h = canvas.size["width"], canvas.size["height"]
    offset = [(round((x + 0.5) * scale - w / 2), round((y + 0.5) * scale - h / 2))
              for x, y in points]
    chain = ActionChains(driver).move_to_element_with_offset(canvas, *offset[0]).click_and_hold()
    for (x0, y0), (x1, y1) in zip(offset, offset[1:]):
        chain = chain.move_by_offset(x1 - x0, y1 - y0)
    chain.release().perform()


def _click(driver, css):
    driver.find_element("css selector", css).click()


def _blob(driver, url):
    """The bytes behind a blob: URL of the page."""
    b64 = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch(arguments[0]).then(r => r.blob()).then(b => {
            const reader = new FileReader();
            reader.onload = () => done(String(reader.result).split(",")[1]);
            reader.readAsDataURL(b);
        }).catch(e => done("ERROR " + e));""", url)
    assert not b64.startswith("ERROR"), b64
    return base64.b64decode(b64)


def _distance_to_segment(h, w, a, b):
    """Distance of every pixel centre to the segment a-b (image coordinates, x right, y down)."""
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    (ax, ay), (bx, by) = [(x + 0.5, y + 0.5) for x, y in (a, b)]
    t = np.clip(((xs - ax) * (bx - ax) + (ys - ay) * (by - ay))
                / ((bx - ax) ** 2 + (by - ay) ** 2), 0, 1)
    return np.hypot(xs - (ax + t * (bx - ax)), ys - (ay + t * (by - ay)))


def test_page_files_and_model_list_are_served(server):
    page = requests.get(server.url + "/", timeout=30)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert '<script src="app.js">' in page.text and "http" not in page.text.split("<body>")[1]
    for name, kind in [("app.js", "javascript"), ("style.css", "text/css")]:
        answer = requests.get(f"{server.url}/{name}", timeout=30)
        assert answer.status_code == 200 and kind in answer.headers["Content-Type"]
        assert "http://" not in answer.text and "https://" not in answer.text  # nothing external
    assert requests.get(server.url + "/models.json", timeout=30).json() == {
        "models": ["conv", "unet", "not_exported"]}
    # the REST API is untouched behind it
    assert requests.get(server.url + "/v1/models/conv", timeout=30).json()[
        "model_version_status"][0]["state"] == "AVAILABLE"
    assert requests.get(server.url + "/nope", timeout=30).status_code == 404


def test_brush_a_stroke_and_fill_with_two_models(driver, server, photo, tmp_path):
    path, pixels = photo
    h, w = pixels.shape[:2]
    canvas, scale = _open(driver, server, path)
    assert scale >= 2  # a 96-pixel photo is shown enlarged, whole pixels
    labels = driver.find_element("id", "models").text
    assert "conv" in labels and "unet" in labels and "version 1" in labels
    assert "unavailable" in labels  # not_exported: listed, greyed out, with the server's reason
    boxes = driver.find_elements("css selector", "#models input")
    assert [b.is_enabled() for b in boxes] == [True, True, False]
    assert all(b.is_selected() for b in boxes[:2])
    assert not driver.find_element("id", "fill").is_enabled()  # no hole yet

    brush = int(driver.find_element("id", "brush").get_attribute("value"))  # screen pixels
    radius = brush / 2 / scale  # image pixels
    a, b = (14, 20), (70, 44)
    _drag(driver, canvas, scale, [a, ((a[0] + b[0]) // 2, (a[1] + b[1]) // 2), b])
    assert "Hole:" in driver.find_element("id", "hole-info").text
    _click(driver, "#fill")
    cards = _wait(driver, lambda: [c for c in driver.find_elements("css selector", ".card[data-model]")
                                   if c.get_attribute("data-state") in ("done", "error")]
                  if len(driver.find_elements("css selector", ".card[data-state=pending]")) == 0
                  and driver.find_elements("css selector", ".card[data-model]") else None,
                  "both fills")
    assert [c.get_attribute("data-model") for c in cards] == ["conv", "unet"]
    assert all(c.get_attribute("data-state") == "done" for c in cards), \
        [c.text for c in cards]
    screenshot = str(tmp_path / "page.png")
    driver.save_screenshot(screenshot)
    if os.environ.get("TFINPAINT_PAGE_SCREENSHOT"):
        shutil.copyfile(screenshot, os.environ["TFINPAINT_PAGE_SCREENSHOT"])

    distance = _distance_to_segment(h, w, a, b)
    inside, outside = distance <= radius - 1.0, distance > radius + 1.5
    assert inside.sum() > 100 and outside.sum() > 0.7 * h * w

    # the mask the page sent: RGBA, transparent (alpha < 128) exactly where it was brushed
    mask_link = driver.find_element("link text", "Download mask").get_attribute("href")
    mask = tf.io.decode_png(_blob(driver, mask_link)).numpy()
    assert mask.shape == (h, w, 4)
    hole = mask[..., 3] < 128
    assert hole[inside].all() and not hole[outside].any()

    fills = {}
    for c in cards:
        link = c.find_element("link text", "Download PNG")
        assert link.get_attribute("download") == f"cars-{c.get_attribute('data-model')}-v1.png"
        filled = tf.io.decode_png(_blob(driver, link.get_attribute("href")), channels=3).numpy()
        assert filled.shape == pixels.shape
        np.testing.assert_array_equal(filled[~hole], pixels[~hole])  # known pixels, bit for bit
        changed = (filled[inside] != pixels[inside]).any(axis=-1).mean()
        assert changed > 0.5, f"{c.get_attribute('data-model')}: only {changed:.0%} of the stroke changed"
        fills[c.get_attribute("data-model")] = filled
    assert not np.array_equal(fills["conv"][hole], fills["unet"][hole])  # two models, two fills


def test_dropped_jpeg_rectangle_eraser_undo_clear_and_a_server_error(driver, server, photo):
    path, pixels = photo
    h, w = pixels.shape[:2]
    jpeg = tf.io.encode_jpeg(pixels, quality=90).numpy()
    canvas, scale = _open(driver, server, None, drop=(jpeg, "cars.jpg", "image/jpeg"))
    assert driver.find_element("id", "photo-info").text == f"cars.jpg: {w} x {h} pixels"
    info = lambda: driver.find_element("id", "hole-info").text  # noqa: E731
    fill = driver.find_element("id", "fill")

    driver.find_element("css selector", "input[value=rect]").find_element("xpath", "..").click()
    _drag(driver, canvas, scale, [(10, 10), (25, 20), (39, 29)])  # pixels 10..39 x 10..29
    assert "Hole: 600 pixels" in info() and fill.is_enabled()
    driver.find_element("css selector", "input[value=eraser]").find_element("xpath", "..").click()
    _drag(driver, canvas, scale, [(5, 20), (45, 20)])
    erased = int(info().split("Hole: ")[1].split()[0])
    assert 0 < erased < 600
    _click(driver, "#undo")
    assert "Hole: 600 pixels" in info()
    _click(driver, "#clear")
    assert info() == "Paint the part to fill." and not fill.is_enabled()
    _click(driver, "#undo")
    assert "Hole: 600 pixels" in info()

    # a hole over almost everything looks like an inverted mask: the server's error is shown
    driver.find_element("css selector", "input[value=rect]").find_element("xpath", "..").click()
    _drag(driver, canvas, scale, [(0, 0), (w - 2, h - 2)])
    assert "refuses more than 90%" in info()
    boxes = driver.find_elements("css selector", "#models input")
    boxes[1].click()  # unet off: fill with conv only
    _click(driver, "#fill")
    card = _wait(driver, lambda: next((c for c in driver.find_elements(
        "css selector", ".card[data-model=conv]") if c.get_attribute("data-state") == "error"), None),
        "the error card")
    assert "HTTP 400" in card.text and "looks inverted" in card.text
    assert len(driver.find_elements("css selector", ".card[data-model]")) == 1
    boxes[1].click()


@pytest.fixture(scope="module")
def shipped_cache(tmp_path_factory):
    """A cache folder holding the shipped photo model's export (`tfinpaint serve` makes it)."""
    from tfinpaint import cli

    cache = str(tmp_path_factory.mktemp("cache"))
    cli.shipped_export("photos", cache)
    return cache


def test_demo_serves_the_shipped_model_and_the_page_without_training(tmp_path, shipped_cache):
    """`python -m serving.demo`: the shipped model (its export found in the cache), an export of
    one's own beside it, the page, a sample Kodak photo and a mask-only predict."""
    import signal
    import subprocess
    import sys

    export.export(models.build("unet", 12, seed=0, filters=4), str(tmp_path / "mine"))
    port = free_port()
    demo = subprocess.Popen([sys.executable, "-m", "serving.demo", f"--workdir={tmp_path}",
                             f"--port={port}", f"--cache={shipped_cache}",
                             f"--extra_model=mine={tmp_path / 'mine'}"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert demo.poll() is None, demo.stdout.read()[-3000:]
            assert time.monotonic() < deadline, "the demo did not start"
            try:
                if requests.get(url + "/models.json", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.5)
        assert requests.get(url + "/models.json", timeout=30).json() == {
            "models": ["photos", "mine"]}
        assert "<canvas" in requests.get(url + "/", timeout=30).text
        image = np.random.default_rng(0).integers(0, 256, (40, 56, 3), np.uint8)
        mask = np.zeros((40, 56, 4), np.uint8)  # RGBA: transparent = hole
        mask[..., 3] = 255
        mask[8:24, 12:28, 3] = 0
        for name in ("photos", "mine"):
            answer = requests.post(f"{url}/v1/models/{name}:predict", timeout=120, json={
                "signature_name": "inpaint_mask_bytes", "instances": [{
                    "image_bytes": {"b64": base64.b64encode(tf.io.encode_png(image).numpy()).decode()},
                    "mask_bytes": {"b64": base64.b64encode(tf.io.encode_png(mask).numpy()).decode()}}]})
            assert answer.status_code == 200, answer.text
            filled = tf.io.decode_png(base64.b64decode(answer.json()["predictions"][0]["b64"])).numpy()
            known = mask[..., 3] >= 128
            np.testing.assert_array_equal(filled[known], image[known])
        assert (tmp_path / "kodim03.png").exists()
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(timeout=60)
        except subprocess.TimeoutExpired:
            demo.kill()
    output = demo.stdout.read()
    assert "exporting" not in output and f"open {url}/" in output, output[-3000:]


def test_a_12_megapixel_photo_is_filled_at_full_size_with_the_shipped_model(
        driver, shipped_cache, data_dir, tmp_path):
    """A Kodak photo enlarged to 4032 x 3024, shown scaled to the screen, a brushed object: the
    page sends a crop of at most 768 px and returns the whole photo at full size, painted pixels
    filled and every other pixel the photo's own."""
    import cv2

    from tfinpaint import cli

    kodak = cv2.imread(os.path.join(data_dir, "photos", "kodak", "kodim03.png"))[:, 42:-42]
    pixels = cv2.cvtColor(cv2.resize(kodak, (4032, 3024), interpolation=cv2.INTER_CUBIC),
                          cv2.COLOR_BGR2RGB)
    path = tmp_path / "kodim03_12mp.png"
    path.write_bytes(tf.io.encode_png(pixels).numpy())
    server = cli.start_server([("photos", cli.shipped_export("photos", shipped_cache))], port=0)
    try:
        driver.get(server.url + "/")
        _wait(driver, lambda: len(driver.find_elements("css selector", "#models input")) == 1,
              "the model list")
        driver.find_element("id", "file").send_keys(str(path))
        _wait(driver, lambda: "empty" not in driver.find_element("id", "stage").get_attribute(
            "class"), "the photo on the canvas", timeout=180)
        canvas = driver.find_element("id", "hole")
        scale = canvas.size["width"] / int(canvas.get_attribute("width"))
        assert scale < 0.35 and canvas.size["width"] <= 1360  # shown scaled to the screen
        driver.execute_script("document.getElementById('brush').value = 60")
        radius = 60 / 2 / scale
        stroke = [(3080, 1620), (3500, 1660), (3480, 1840), (3060, 1820), (3080, 2000),  # the
                  (3520, 2010), (3440, 2190), (3160, 2160), (3260, 2290)]  # pink hat, zigzag
        _drag(driver, canvas, scale, stroke)
        _click(driver, "#fill")
        card = _wait(driver, lambda: next((c for c in driver.find_elements(
            "css selector", ".card[data-model=photos]") if c.get_attribute("data-state") in (
                "done", "error")), None), "the fill", timeout=180)
        assert card.get_attribute("data-state") == "done", card.text
        timing = card.find_element("css selector", ".meta span").get_attribute("title")
        crop = [int(v) for v in timing.split(" at ")[1].split(" x ")]
        assert max(crop) == 768, timing  # the server saw a working-size crop, not 12 MP
        if os.environ.get("TFINPAINT_PAGE_SCREENSHOT"):
            driver.execute_script("document.getElementById('results').scrollIntoView()")
            driver.save_screenshot(os.environ["TFINPAINT_PAGE_SCREENSHOT"])
        link = card.find_element("link text", "Download PNG").get_attribute("href")
        filled = tf.io.decode_png(_blob(driver, link), channels=3).numpy()
        assert filled.shape == pixels.shape
        top, left = 1300, 2800  # a window round the stroke (distances over 12 MP cost GBs)
        window = np.min([_distance_to_segment(1300, 1000, (a[0] - left, a[1] - top),
                                              (b[0] - left, b[1] - top))
                         for a, b in zip(stroke, stroke[1:])], axis=0)
        distance = np.full(pixels.shape[:2], np.inf)
        distance[top:top + 1300, left:left + 1000] = window
        outside = distance > radius + 2 / scale
        inside = distance < radius - 2 / scale
        np.testing.assert_array_equal(filled[outside], pixels[outside])
        assert (filled[inside] != pixels[inside]).any(axis=-1).mean() > 0.9
    finally:
        server.close()
