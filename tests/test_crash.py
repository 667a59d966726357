"""Crash safety: the training stream can be restarted at any step, a training process killed
with SIGKILL mid-epoch resumes from its last checkpoint and ends like a run that was never
killed, and a crash while exporting leaves the previous version servable.

The processes that are killed run this file as a script (`python tests/test_crash.py ...`).
"""
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from helpers import ROOT


def python(args, timeout=600, **extra_env):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": ROOT,
                                                "TF_CPP_MIN_LOG_LEVEL": "3", **extra_env})


# ---------------------------------------------------------------- the training stream

def test_training_stream_is_the_same_on_every_iterator_and_can_start_at_any_step():
    import tensorflow as tf

    from tfinpaint.data import train_pipeline

    images = tf.data.Dataset.from_tensor_slices(
        np.arange(40, dtype=np.uint8).repeat(4).reshape(40, 2, 2, 1))

    def ids(ds, n):  # the image numbers of the first n batches
        return np.array([(b.numpy()[:, 0, 0, 0] * 255).round() for b in ds.take(n)]).astype(int)

    stream = train_pipeline(images, 5, seed=0, augment=False)
    first = ids(stream, 24)
    np.testing.assert_array_equal(ids(stream, 24), first)  # a second iterator: the same stream
    np.testing.assert_array_equal(ids(train_pipeline(images, 5, seed=0, augment=False, skip=7),
                                      17), first[7:])
    passes = first.reshape(3, 40)
    for p in passes:  # every pass is a permutation, and the passes differ
        assert sorted(p) == list(range(40))
    assert not np.array_equal(passes[0], passes[1])
    other = ids(train_pipeline(images, 5, seed=1, augment=False), 8)
    assert not np.array_equal(other, first[:8])


# ---------------------------------------------------------------- SIGKILL mid-epoch, resume

RESUME_FLAGS = ["--method=cvae_patch", "--latent_dim=16", "--epochs=2", "--steps_per_epoch=5",
                "--batch_size=8", "--max_train_images=64", "--checkpoint_every_steps=3",
                "--mode=train"]


def kill_at(step, args):
    """The subprocess: `tfinpaint.main` with a callback that SIGKILLs the process (no cleanup,
    no except/finally runs) when training step `step` has finished."""
    import keras
    from absl import app

    from tfinpaint import experiment, main

    class Kill(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if int(self.model.optimizer.iterations.numpy()) == step:
                os.kill(os.getpid(), signal.SIGKILL)

    original = experiment.Experiment.train
    experiment.Experiment.train = lambda self, callbacks=(): original(self, [Kill()])
    sys.argv = ["tfinpaint", *args]
    app.run(main.main)


def checkpoint_tensors(model_dir):
    import tensorflow as tf

    path = tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints"))
    reader = tf.train.load_checkpoint(path)
    return path, {name: reader.get_tensor(name) for name, _ in tf.train.list_variables(path)
                  if not name.startswith(("_CHECKPOINTABLE_OBJECT_GRAPH", "save_counter"))}


def test_sigkill_mid_epoch_resumes_and_ends_like_an_uninterrupted_run(tmp_path, data_dir):
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    out = python([os.path.join("tests", "test_crash.py"), "kill_at", "8",
                  *RESUME_FLAGS, f"--model_dir={killed}"], TFINPAINT_DATA_DIR=data_dir)
    assert out.returncode == -signal.SIGKILL, out.stderr[-3000:]
    # Checkpoints at steps 3, 5 (end of epoch 1) and 6; step 8 of 10 was the last one run.
    path, _ = checkpoint_tensors(killed)
    assert path.endswith("ckpt-6")

    resumed = python(["-m", "tfinpaint.main", *RESUME_FLAGS, f"--model_dir={killed}"],
                     TFINPAINT_DATA_DIR=data_dir)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "(epoch 1 + 1 steps, step 6)" in resumed.stdout
    assert "Resuming epoch 2 at step 2/5" in resumed.stdout
    reference = python(["-m", "tfinpaint.main", *RESUME_FLAGS, f"--model_dir={whole}"],
                       TFINPAINT_DATA_DIR=data_dir)
    assert reference.returncode == 0, reference.stderr[-3000:]

    for run in (killed, whole):
        with open(run / "training.json") as f:
            record = json.load(f)
        assert (record["epochs"], record["steps"]) == (2, 10)
    path_a, a = checkpoint_tensors(killed)
    path_b, b = checkpoint_tensors(whole)
    assert path_a.endswith("ckpt-10") and path_b.endswith("ckpt-10")
    iterations = [k for k in a if k.startswith("optimizer/_iterations")]
    assert iterations and all(int(a[k]) == 10 for k in iterations)
    assert set(a) == set(b)
    # Same optimizer moments, weights and random states as the run that was never killed: the
    # resumed run restored them and skipped exactly the batches already trained on.
    for name in sorted(a):
        np.testing.assert_allclose(a[name], b[name], rtol=1e-5, atol=1e-6, err_msg=name)


# ---------------------------------------------------------------- a crash during export

def test_exception_during_export_leaves_the_previous_version_and_nothing_else(tmp_path,
                                                                             monkeypatch):
    import keras
    import tensorflow as tf

    from tfinpaint import evaluate, export, models

    model = models.build("conv", 12, seed=0, depth=1, filters=4)
    base = str(tmp_path / "conv")
    first = export.export(model, base)
    archive = type(keras.export.ExportArchive())  # the backend's class (TFExportArchive)
    real_write_out = archive.write_out

    def write_half_then_fail(self, filepath, *args, **kwargs):
        real_write_out(self, filepath, *args, **kwargs)  # a real SavedModel ...
        pb = os.path.join(filepath, "saved_model.pb")
        with open(pb, "r+b") as f:  # ... cut in half, as a crash mid-write would leave it
            f.truncate(os.path.getsize(pb) // 2)
        raise OSError("No space left on device")

    monkeypatch.setattr(archive, "write_out", write_half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        export.export(model, base)
    assert os.listdir(base) == ["1"]  # no version 2, no hidden temporary folder
    assert export.latest(base) == first
    images = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    masks = evaluate.protocol_masks(2, 32, 32, 12)
    served = tf.saved_model.load(first).signatures["serving_default"](
        image=tf.constant(images), mask=tf.constant(masks))["inpainted"].numpy()
    np.testing.assert_allclose(served, model({"image": images, "mask": masks}).numpy(), atol=1e-6)


def sigkill_during_export(base):
    """The subprocess: exports version 1, then is SIGKILLed while writing version 2."""
    import keras

    from tfinpaint import export, models

    model = models.build("conv", 12, seed=0, depth=1, filters=4)
    export.export(model, base)
    archive = type(keras.export.ExportArchive())
    real_write_out = archive.write_out

    def write_then_die(self, filepath, *args, **kwargs):
        real_write_out(self, filepath, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)

    archive.write_out = write_then_die
    export.export(model, base)


def test_sigkill_during_export_leaves_the_previous_version_servable(tmp_path):
    import tensorflow as tf

    from tfinpaint import export, models

    base = str(tmp_path / "conv")
    out = python([os.path.join("tests", "test_crash.py"), "sigkill_during_export", base])
    assert out.returncode == -signal.SIGKILL, out.stderr[-3000:]
    # What TF Serving would load: only integer folders, and version 1 is whole.
    assert export.versions(base) == [1]
    assert [d for d in os.listdir(base) if d.isdigit()] == ["1"]
    tf.saved_model.load(export.latest(base)).signatures["serving_default"](
        image=tf.zeros([1, 32, 32, 3]), mask=tf.ones([1, 32, 32, 1]))
    leftovers = [d for d in os.listdir(base) if d.startswith(".tmp-2-")]
    assert len(leftovers) == 1  # the killed process's temporary folder, ignored by TF Serving
    # The next export removes it (its process is dead) and writes a fresh, complete version.
    model = models.build("conv", 12, seed=0, depth=1, filters=4)
    assert export.export(model, base).endswith(os.sep + "2")
    assert export.versions(base) == [1, 2] and sorted(os.listdir(base)) == ["1", "2"]


if __name__ == "__main__":
    if sys.argv[1] == "kill_at":
        kill_at(int(sys.argv[2]), sys.argv[3:])
    elif sys.argv[1] == "sigkill_during_export":
        sigkill_during_export(sys.argv[2])
