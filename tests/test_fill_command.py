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
