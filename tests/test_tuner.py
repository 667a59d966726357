import json
import os

import numpy as np
import tensorflow as tf

from helpers import ROOT, free_port
from tfinpaint.config import make
from tuner.search import search

TINY = dict(epochs=1, steps_per_epoch=2, batch_size=16, max_train_images=64)


def first_kernel(path, rank_shape):
    """The kernel shape of the exported model's first conv layer with `rank_shape` channels."""
    variables = tf.saved_model.load(path).variables
    return [tuple(v.shape) for v in variables if v.shape.rank == 4 and v.shape[2] == rank_shape][0]


def test_search_picks_the_best_trial_exports_it_and_resumes(tmp_path, data_dir, capsys):
    kwargs = dict(kind="random", max_trials=2, directory=str(tmp_path / "tn"))
    cfg = make("conv", data_dir=data_dir, export_dir=str(tmp_path / "export"), **TINY)
    path, record = search(cfg, **kwargs)
    out = capsys.readouterr().out
    assert "learning_rate" in out and "kernel_size_1" in out  # the search space was printed
    trials = sorted(d for d in os.listdir(tmp_path / "tn" / "conv") if d.startswith("trial_"))
    assert len(trials) == 2
    scores = [json.load(open(tmp_path / "tn" / "conv" / t / "trial.json"))["score"] for t in trials]
    assert record["score"] == max(scores)
    with open(os.path.join(path, "assets.extra", "best_hyperparameters.json")) as f:
        saved = json.load(f)
    assert saved == json.load(open(tmp_path / "tn" / "conv" / "best_hyperparameters.json"))
    k = saved["hyperparameters"]["kernel_size_1"]
    assert first_kernel(path, 4) == (k, k, 4, saved["hyperparameters"]["filters"])
    served = tf.saved_model.load(path).signatures["serving_default"]
    x = tf.random.uniform([2, 32, 32, 3])
    m = tf.concat([tf.zeros([2, 12, 32, 1]), tf.ones([2, 20, 32, 1])], axis=1)
    assert served(image=x, mask=m)["inpainted"].shape == (2, 32, 32, 3)

    again, record2 = search(cfg, **kwargs)
    assert "Running Trial" not in capsys.readouterr().out  # finished trials are not redone
    assert record2 == record
    assert again.endswith(os.sep + "2")  # the next version


def test_gan_search_covers_alpha(tmp_path, data_dir):
    cfg = make("gan", data_dir=data_dir, export_dir=str(tmp_path / "export"), **TINY)
    path, record = search(cfg, "random", 2, directory=str(tmp_path / "tn"))
    assert 0.0 <= record["hyperparameters"]["alpha"] <= 1.0
    assert np.isfinite(record["score"])
    assert os.path.exists(os.path.join(path, "saved_model.pb"))


def test_chief_and_worker_share_one_search(tmp_path, data_dir):
    import subprocess
    import sys

    port = free_port()
    args = [sys.executable, "-m", "tuner.search", "--method=conv", "--max_trials=2", "--epochs=1",
            "--steps_per_epoch=2", "--batch_size=16", "--max_train_images=64",
            f"--directory={tmp_path / 'tn'}", f"--export_dir={tmp_path / 'export'}",
            f"--data_dir={data_dir}"]
    env = dict(os.environ, KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT=str(port))
    chief = subprocess.Popen(args, cwd=ROOT, env=dict(env, KERASTUNER_TUNER_ID="chief"),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    worker = subprocess.run(args, cwd=ROOT, env=dict(env, KERASTUNER_TUNER_ID="tuner0"),
                            capture_output=True, text=True, timeout=300)
    chief_out, _ = chief.communicate(timeout=300)
    assert worker.returncode == 0, worker.stderr[-2000:]
    assert chief.returncode == 0, chief_out[-2000:]
    assert "2/2 - " in worker.stdout and "val_hole_psnr:" in worker.stdout  # the worker trained...
    assert "Exported the best model" in chief_out  # ...and the chief exported the best one
    assert "Exported" not in worker.stdout
    trials = [d for d in os.listdir(tmp_path / "tn" / "conv") if d.startswith("trial_")]
    assert len(trials) == 2
    assert os.listdir(tmp_path / "export" / "conv") == ["1"]
