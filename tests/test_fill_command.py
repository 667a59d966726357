"""`tfinpaint fill`: a real photo and mask through an export, any size, one-line errors."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from helpers import ROOT
from tfinpaint import cli, export, models
from tfinpaint.data.masks import read_image


@pytest.fixture(scope="module")
def unet_export(tmp_path_factory):
    return export.export(models.build("unet", 12, seed=0, filters=4),
                         str(tmp_path_factory.mktemp("cli_export") / "unet"))


def write_mask(path, shape, boxes):
    mask = np.zeros(shape + (1,), np.uint8)
    for top, left, h, w in boxes:
        mask[top:top + h, left:left + w] = 255
    tf.io.write_file(str(path), tf.io.encode_png(mask))


def test_fill_a_kodak_photo_keeps_known_pixels(data_dir, unet_export, tmp_path, monkeypatch):
    photo = os.path.join(data_dir, "photos", "kodak", "kodim01.png")
    image = read_image(photo)
    write_mask(tmp_path / "mask.png", image.shape[:2], [(40, 60, 50, 80), (300, 500, 120, 90)])
    monkeypatch.setenv("HOME", str(tmp_path))  # ~ expands
    assert cli.main(["fill", photo, "~/mask.png", "-o", "~/out.png",
                     f"--model={unet_export}"]) == 0
    out = read_image(str(tmp_path / "out.png"))
    hole = np.zeros(image.shape[:2], bool)
    hole[40:90, 60:140] = hole[300:420, 500:590] = True
    np.testing.assert_array_equal(out[~hole], image[~hole])
    assert np.abs(out[hole].astype(int) - image[hole]).mean() > 0


def test_a_folder_of_photos(data_dir, unet_export, tmp_path):
    (tmp_path / "in").mkdir(), (tmp_path / "masks").mkdir()
    for name in ("kodim03.png", "kodim04.png"):
        image = read_image(os.path.join(data_dir, "photos", "kodak", name))
        tf.io.write_file(str(tmp_path / "in" / name), tf.io.encode_png(image))
        write_mask(tmp_path / "masks" / name, image.shape[:2], [(100, 100, 64, 64)])
    assert cli.main(["fill", str(tmp_path / "in"), str(tmp_path / "masks"), "-o",
                     str(tmp_path / "out"), f"--model={unet_export}"]) == 0
    assert sorted(os.listdir(tmp_path / "out")) == ["kodim03.png", "kodim04.png"]


def test_webp_photos_are_filled_and_sent_by_the_client(data_dir, unet_export, tmp_path):
    """Browsers save photos as .webp: `tfinpaint fill` fills a folder holding one, and
    `serving.client`'s folder mode sends it to a server, which decodes it in the export."""
    from PIL import Image

    photos = tmp_path / "photos"
    photos.mkdir()
    stored = read_image(os.path.join(data_dir, "photos", "kodak", "kodim03.png"))[:96, :128]
    Image.fromarray(stored).save(photos / "photo.webp", "WEBP", quality=90)
    shown = read_image(str(photos / "photo.webp"))
    assert shown.shape == (96, 128, 3) and np.abs(shown.astype(int) - stored).mean() < 8
    write_mask(tmp_path / "mask.png", (96, 128), [(30, 40, 24, 24)])
    hole = np.zeros((96, 128), bool)
    hole[30:54, 40:64] = True
    assert cli.main(["fill", str(photos), str(tmp_path / "mask.png"), "-o", str(tmp_path / "out"),
                     f"--model={unet_export}"]) == 0
    out = read_image(str(tmp_path / "out" / "photo.png"))
    np.testing.assert_array_equal(out[~hole], shown[~hole])
    server = cli.start_server([("unet", os.path.dirname(unet_export))], port=0)
    try:
        sent = subprocess.run([sys.executable, "-m", "serving.client", f"--url={server.url}",
                               "--model=unet", f"--image={photos}", "--hole=40,30,24",
                               f"--output={tmp_path / 'sent'}"],
                              cwd=ROOT, capture_output=True, text=True, timeout=300)
    finally:
        server.close()
    assert sent.returncode == 0, sent.stderr[-1500:]
    assert os.listdir(tmp_path / "sent") == ["photo.png"]
    np.testing.assert_array_equal(read_image(str(tmp_path / "sent" / "photo.png"))[~hole],
                                  shown[~hole])


@pytest.mark.parametrize("case,match", [
    ("missing_photo", "photo .* does not exist"),
    ("mask_size", "mask"),
    ("unknown_model", "no such SavedModel folder, and no shipped model"),
])
def test_errors_are_one_line_and_nothing_is_written(case, match, data_dir, unet_export, tmp_path):
    photo = os.path.join(data_dir, "photos", "kodak", "kodim01.png")
    write_mask(tmp_path / "mask.png", (20, 30) if case == "mask_size" else (512, 768),
               [(2, 2, 5, 5)])
    args = {"missing_photo": [str(tmp_path / "nope.jpg"), str(tmp_path / "mask.png")],
            "mask_size": [photo, str(tmp_path / "mask.png")],
            "unknown_model": [photo, str(tmp_path / "mask.png")]}[case]
    model = "nope/model" if case == "unknown_model" else unet_export
    result = subprocess.run([sys.executable, "-m", "tfinpaint.cli", "fill", *args, "-o",
                             str(tmp_path / "out.png"), f"--model={model}"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("tfinpaint: error:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-1500:]
    assert re.search(match, lines[0]), lines[0]
    assert not (tmp_path / "out.png").exists()


def test_fill_through_a_rest_server_matches_filling_in_process(data_dir, unet_export, tmp_path):
    """--url: the same regions, each crop sent as PNGs to the model on a TF Serving REST API (the
    local server, started as `tfinpaint serve` starts it), gives the in-process fill."""
    photo = os.path.join(data_dir, "photos", "kodak", "kodim05.png")
    image = read_image(photo)
    write_mask(tmp_path / "mask.png", image.shape[:2], [(100, 200, 60, 90), (350, 50, 40, 40)])
    server = cli.start_server([("unet", os.path.dirname(unet_export))], port=0)
    try:
        assert cli.main(["fill", photo, str(tmp_path / "mask.png"), "-o", str(tmp_path / "rest.png"),
                         "--model=unet", f"--url={server.url}"]) == 0
        assert cli.main(["fill", photo, str(tmp_path / "mask.png"), "-o", str(tmp_path / "x.png"),
                         "--model=nope", f"--url={server.url}"]) == 2
    finally:
        server.close()
    assert cli.main(["fill", photo, str(tmp_path / "mask.png"), "-o", str(tmp_path / "local.png"),
                     f"--model={unet_export}"]) == 0
    rest, local = (read_image(str(tmp_path / n)) for n in ("rest.png", "local.png"))
    hole = np.zeros(image.shape[:2], bool)
    hole[100:160, 200:290] = hole[350:390, 50:90] = True
    np.testing.assert_array_equal(rest[~hole], image[~hole])
    assert np.abs(rest.astype(int) - local).max() <= 1  # the PNG round trip of the crops
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("argv,match", [
    (["--model=broken"], "--model takes NAME=PATH"),
    (["--model=a=/nonexistent/folder"], "no such folder"),
    (["--no-shipped"], "nothing to serve"),
])
def test_serve_refuses_bad_arguments_in_one_line(argv, match, capsys):
    assert cli.main(["serve", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tfinpaint: error:") and re.search(match, err[0])


def _with_orientation(pixels, orientation, path, fmt):
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(pixels).save(path, fmt, exif=exif)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_photos_are_read_upright_as_pillow_turns_them(orientation, tmp_path):
    from PIL import Image, ImageOps

    from tfinpaint.utils import upright_bytes

    pixels = np.random.default_rng(orientation).integers(0, 256, (5, 7, 3), np.uint8)
    path = tmp_path / "turned.png"
    _with_orientation(pixels, orientation, path, "PNG")
    with Image.open(path) as image:
        expected = np.asarray(ImageOps.exif_transpose(image))
    assert expected.shape == ((7, 5, 3) if orientation >= 5 else (5, 7, 3))
    np.testing.assert_array_equal(read_image(str(path)), expected)
    data = path.read_bytes()  # what serving.client sends: these pixels, upright
    sent = upright_bytes(data)
    assert (sent == data) == (orientation == 1)
    np.testing.assert_array_equal(tf.io.decode_png(sent, channels=3).numpy(), expected)


def test_a_phone_photo_with_an_orientation_tag_is_filled_upright(data_dir, unet_export,
                                                                 tmp_path):
    """A JPEG stored landscape with orientation 6 (shown portrait), its mask drawn over the
    portrait: the fill is portrait and keeps the upright photo's known pixels."""
    stored = read_image(os.path.join(data_dir, "photos", "kodak", "kodim05.png"))
    photo = tmp_path / "phone.jpg"
    _with_orientation(stored, 6, photo, "JPEG")
    shown = read_image(str(photo))
    assert shown.shape == (768, 512, 3)
    write_mask(tmp_path / "mask.png", (768, 512), [(600, 100, 60, 200)])
    assert cli.main(["fill", str(photo), str(tmp_path / "mask.png"), "-o",
                     str(tmp_path / "out.png"), f"--model={unet_export}"]) == 0
    out = read_image(str(tmp_path / "out.png"))
    hole = np.zeros((768, 512), bool)
    hole[600:660, 100:300] = True
    np.testing.assert_array_equal(out[~hole], shown[~hole])
    # the photo really was turned: its top row is the stored photo's first column, bottom up
    assert np.abs(shown[0].astype(int) - stored[::-1, 0]).mean() < 8


def test_the_cached_shipped_export_is_keyed_by_weights_and_code(tmp_path, monkeypatch):
    """A cached export built by older code (which, say, refused WebP) is not served after an
    upgrade: the cache key holds the code's digest as well as the weights'."""
    from tfinpaint import pretrained

    assert len(cli.code_digest()) == 64 and cli.code_digest() == cli.code_digest()
    weights = pretrained.manifest("photos")["sha256"][:12]
    bases = []
    for code in ("a" * 64, "b" * 64):
        monkeypatch.setattr(cli, "code_digest", lambda code=code: code)
        base = tmp_path / "exports" / f"photos-{weights}-{code[:12]}"
        (base / "1").mkdir(parents=True)  # already exported: nothing is exported again
        bases.append(cli.shipped_export("photos", str(tmp_path)))
    assert bases == [str(tmp_path / "exports" / f"photos-{weights}-{c * 12}") for c in "ab"]
