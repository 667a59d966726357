import json
import os
import subprocess
import sys

import pytest
from absl import app, flags

from helpers import ROOT
from tfinpaint import main as cli

TINY = ["--epochs=1", "--steps_per_epoch=2", "--batch_size=16", "--max_train_images=64",
        "--eval_images=40", "--classical=mean"]


def run_module(args, timeout=600):
    return subprocess.run([sys.executable, "-m", "tfinpaint.main", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def run_in_process(args, capsys):
    """main() as `python -m tfinpaint.main` runs it; returns (exit code, stderr)."""
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["tfinpaint", *args])
    code = 0
    try:
        cli.main(["tfinpaint"])
    except SystemExit as e:
        code = e.code
    return code, capsys.readouterr().err


def test_end_to_end_writes_every_artefact_then_resumes(tmp_path):
    run = str(tmp_path / "run")
    out = run_module(["--method=ae_patch", f"--model_dir={run}", *TINY])
    assert out.returncode == 0, out.stderr[-3000:]
    for name in ("config.json", "metrics.json", "samples.png", "checkpoints/checkpoint",
                 "export/ae_patch/1/saved_model.pb"):
        assert os.path.exists(os.path.join(run, name)), name
    assert any(f.startswith("events") for f in os.listdir(os.path.join(run, "logs", "samples")))
    assert any(f.startswith("events") for f in os.listdir(os.path.join(run, "logs", "train")))
    with open(os.path.join(run, "metrics.json")) as f:
        metrics = json.load(f)
    assert {"ae_patch", "mean"} <= {r["method"] for r in metrics["rows"]}  # (+ reference rows)
    assert {"hole_psnr", "psnr", "ssim", "hole_l1"} <= set(metrics["rows"][0])
    assert "hole_psnr" in out.stdout  # the table was printed

    again = run_module(["--method=ae_patch", f"--model_dir={run}", *TINY, "--epochs=2"])
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Restored" in again.stdout and "epochs 2-2" in again.stdout
    assert os.path.exists(os.path.join(run, "checkpoints", "ckpt-4.index"))  # numbered by step
    assert os.path.exists(os.path.join(run, "export", "ae_patch", "2", "saved_model.pb"))
    with open(os.path.join(run, "metrics.json")) as f:
        assert json.load(f)["epochs"] == 2


def test_bad_settings_exit_with_a_message_not_a_traceback(tmp_path):
    out = run_module(["--method=conv", "--hole_size=40", f"--model_dir={tmp_path}", *TINY])
    assert out.returncode == 2
    assert "hole size 40 does not fit 32x32 images" in out.stderr
    assert "Traceback" not in out.stderr
    assert not os.listdir(tmp_path)  # nothing written


@pytest.mark.parametrize("args,error", [
    (["--method=resnet9000"], "value should be one of"),
    (["--no_such_flag=1"], "Unknown command line flag"),
    (["--filters=0"], "flag --filters=0: 0 is not a positive integer"),
    (["--epochs=-3"], "flag --epochs=-3"),
    (["--alpha=1.5"], r"not a number in the range \[0.0, 1.0\]"),
    (["--learning_rate=0"], "flag --learning_rate=0"),
    (["--z_steps=-1"], "flag --z_steps=-1"),
])
def test_unknown_flags_and_methods_fail_at_parse_time(args, error):
    flags.FLAGS.unparse_flags()
    with pytest.raises(flags.Error, match=error):
        flags.FLAGS(["tfinpaint", *args])


@pytest.mark.parametrize("args,message", [
    (["--hole_size=32"], "hole size 32 does not fit"),
    (["--dataset=npz:/no/such.npz"], "does not exist"),
    (["--dataset=mystery"], "Unknown dataset 'mystery'"),
    (["--batch_size=100", "--max_train_images=50"], "batch size 100 is larger than the 50"),
    (["--classical=mean,magic"], "unknown classical methods ['magic']"),
    (["--mode=evaluate"], "no checkpoint"),
    (["--mode=inpaint", "--model=/no/model", "--image=x.png", "--output=o.png",
      "--hole=1,1,4"], "does not exist"),
])
def test_bad_input_gets_its_message(tmp_path, capsys, args, message):
    code, err = run_in_process([f"--model_dir={tmp_path}/run", *TINY, *args], capsys)
    assert code == 2 and message in err, err


def test_inpaint_needs_mask_or_hole():
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["tfinpaint", "--mode=inpaint", "--model=m", "--image=i.png", "--output=o.png"])
    with pytest.raises(app.UsageError, match="exactly one of --mask or --hole"):
        cli.run(["tfinpaint"])


def test_resuming_with_another_architecture_is_refused(tmp_path, capsys):
    run = f"--model_dir={tmp_path}/run"
    assert run_in_process(["--method=ae", run, *TINY, "--mode=train"], capsys)[0] == 0
    code, err = run_in_process(["--method=ae", run, *TINY, "--mode=train", "--hole_size=8"], capsys)
    assert code == 2 and "other settings (hole_size: 12 there, 8 now)" in err, err
    code, err = run_in_process(["--method=ae", run, *TINY, "--mode=train", "--filters=16"], capsys)
    assert code == 2 and "other settings (filters: 32 there, 16 now)" in err, err


def test_flags_make_the_methods_config():
    """Unset flags take the method's defaults; model flags become its settings."""
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["tfinpaint", "--method=dcgan", "--filters=8", "--val_search_steps=5",
                 "--noaugment"])
    cfg = cli.config_from_flags()
    assert (cfg.model.filters, cfg.model.val_search_steps, cfg.model.z_steps) == (8, 5, 300)
    assert (cfg.epochs, cfg.dataset, cfg.learning_rate, cfg.augment) == (25, "faces64", 2e-4, False)
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["tfinpaint", "--method=conv"])
    assert cli.config_from_flags().known_weight == 0.1  # hole pixels weigh 10x the known ones
