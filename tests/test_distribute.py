"""tf.distribute: mirrored training on two logical CPU devices matches one device (every method
family, the custom train_steps included), each replica cuts its own holes, tuner trials train
mirrored, and a two-process multi_worker run on localhost finishes an epoch.

Two logical CPU devices must be configured before TensorFlow initialises its devices, so the
mirrored checks run in one subprocess (`python tests/test_distribute.py mirrored`) and print
their figures as JSON; the tests below assert on them.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from helpers import ROOT, free_ports

# Tiny architectures: the checks are about distribution, not quality.
FAMILIES = {
    "ae_patch": dict(filters=8),
    "cvae": dict(filters=8, latent_dim=32),
    "gan": dict(filters=8, d_filters=8),
    # The two faces methods' own learning rate (2e-4) barely moves their validation losses in
    # 12 steps now that BatchNorm statistics follow the weights (momentum 0.9): 2e-3 does.
    # DiffAugment off: each replica augments its own images (its own draws, like its noise),
    # which makes a 12-step GAN loss noisier than the tolerance of the equivalence check.
    "dcgan": dict(dataset="faces64", image_size=32, filters=8, latent_dim=16, z_steps=5,
                  learning_rate=2e-3, diff_augment=False),
    "context_encoder": dict(dataset="faces64", image_size=32, filters=8, bottleneck=16,
                            d_filters=8, learning_rate=2e-3),
}


def env(**extra):
    return {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3", **extra}


def python(args, timeout=600, **extra_env):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env(**extra_env))


def last_json(stdout):
    return json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])


# ---------------------------------------------------------------- mirrored on 2 logical CPUs

@pytest.fixture(scope="module")
def mirrored(data_dir):
    out = python([os.path.join("tests", "test_distribute.py"), "mirrored"],
                 TFINPAINT_DATA_DIR=data_dir)
    assert out.returncode == 0, out.stderr[-4000:]
    return last_json(out.stdout)


@pytest.mark.parametrize("method", ["conv", "gan"])
def test_mirrored_updates_equal_one_device_on_the_same_global_batch(mirrored, method):
    """SGD (which, unlike Adam, is not invariant to a gradient's scale), the same images and
    holes (made in the data pipeline), no dropout: two replicas of 8 must give the weights one
    device gives with 16, to float rounding; a loss divided by the replica count once too often
    (as Keras 3's own loss objects do under tf.distribute) or not at all is far off."""
    r = mirrored["exact"][method]
    assert r["replicas"] == 2
    assert r["mirrored_vs_one"] < 1e-5, r
    assert r["double_lr_vs_one"] > 100 * max(r["mirrored_vs_one"], 1e-7), r  # the test can fail


def test_each_replica_cuts_its_own_holes_and_draws_its_own_noise(mirrored):
    seeds = mirrored["seeds"]
    assert seeds["replicas"] == 2
    assert seeds["hole_positions_differ"] and seeds["noise_differs"]
    assert seeds["one_device_seed_unchanged"]  # one device: the numbers of before


@pytest.mark.parametrize("method", sorted(FAMILIES))
def test_mirrored_reaches_the_one_device_loss(mirrored, method):
    """Each family through `Experiment` (Adam, the method's learning rate, the same images and
    holes): after 12 steps on the same global batch the validation loss has moved, and two
    replicas land where one device lands, within a fifth of the distance trained (noise,
    dropout and BatchNorm statistics differ per replica); logged adversarial losses are not
    halved."""
    one, two = mirrored["families"][method]["none"], mirrored["families"][method]["mirrored"]
    assert two["replicas"] == 2 and one["replicas"] == 1
    assert two["steps"] == one["steps"] == mirrored["families"][method]["expected_steps"]
    key = "d_loss" if method == "dcgan" else "loss"
    start, end = one[f"initial_val_{key}"], one[f"val_{key}"]
    assert two[f"initial_val_{key}"] == pytest.approx(start, rel=1e-3)  # the same model (dcgan:
    # the noise of its validation step differs per replica)
    assert end < start and two[f"val_{key}"] < start, (one, two)
    assert abs(two[f"val_{key}"] - end) <= 0.2 * (start - end), (one, two)
    for name in ("d_loss", "adversarial"):
        if name in one:
            assert abs(two[name] - one[name]) < 0.1 * one[name], (name, one, two)


def run_mirrored_checks():
    """The subprocess: two logical CPU devices, then every mirrored comparison; prints JSON."""
    from tfinpaint import distribute

    distribute.split_cpu(2)
    import keras
    import tensorflow as tf

    from tfinpaint import models
    from tfinpaint.data import HoleMaker, load_dataset, train_pipeline
    from tfinpaint.config import make
    from tfinpaint.experiment import Experiment

    data_dir = os.environ["TFINPAINT_DATA_DIR"]
    cars = load_dataset("cifar10_cars", data_dir)
    results = {"exact": {}, "families": {}}

    def sgd_weights(method, kwargs, kind, lr):
        strategy = distribute.strategy(kind)
        keras.utils.set_random_seed(0)
        with strategy.scope():
            model = models.build(method, 12, seed=0, **kwargs)
            model.compile(optimizer=keras.optimizers.SGD(lr))
            model.build_optimizers()
        batch = 16  # global
        data = train_pipeline(cars.train.take(128), batch, seed=0, hole_maker=HoleMaker(12))
        model.fit(data, epochs=1, steps_per_epoch=4, verbose=0)
        return model.get_weights(), strategy.num_replicas_in_sync

    def max_diff(a, b):
        return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))

    for method, kwargs in (("conv", dict(depth=2, filters=8)),
                           ("gan", dict(filters=8, d_filters=8, d_dropout=0.0))):
        one, _ = sgd_weights(method, kwargs, "none", 0.5)
        two, replicas = sgd_weights(method, kwargs, "mirrored", 0.5)
        double, _ = sgd_weights(method, kwargs, "none", 1.0)
        results["exact"][method] = {"replicas": replicas, "mirrored_vs_one": max_diff(one, two),
                                    "double_lr_vs_one": max_diff(one, double)}

    strategy = distribute.strategy("mirrored")
    with strategy.scope():
        holes = HoleMaker(12, seed=0)
        noise = keras.random.SeedGenerator(0)

    @tf.function
    def per_replica():
        return strategy.run(lambda: (holes(tf.zeros([4, 32, 32, 3])),
                                     distribute.normal([4, 8], noise)))

    (m0, n0), (m1, n1) = [tuple(t.numpy() for t in r)
                          for r in zip(*[strategy.experimental_local_results(x)
                                         for x in per_replica()])]
    seed = tf.constant([3, 4], tf.int64)
    unfolded = tf.random.experimental.stateless_fold_in(seed, distribute.LATENT)  # no replica id
    results["seeds"] = {"replicas": strategy.num_replicas_in_sync,
                        "hole_positions_differ": bool(not np.array_equal(m0, m1)),
                        "noise_differs": bool(not np.allclose(n0, n1)),
                        "one_device_seed_unchanged": bool(np.array_equal(
                            distribute.stream_key(seed, distribute.LATENT).numpy(),
                            np.mod(unfolded.numpy(), np.iinfo(np.int32).max)))}

    splits = {}
    for method, spec in FAMILIES.items():
        spec = dict(spec)
        dataset = spec.pop("dataset", "cifar10_cars")
        if (dataset, spec.get("image_size")) not in splits:
            splits[dataset, spec.get("image_size")] = load_dataset(
                dataset, data_dir, spec.get("image_size"))
        row = {}
        for kind, batch in (("none", 16), ("mirrored", 8)):
            cfg = make(method, dataset=dataset, epochs=1, steps_per_epoch=12,
                       batch_size=batch, max_train_images=256, distribute=kind,
                       holes="data", lr_schedule="constant", checkpoint_every_steps=0,
                       model_dir=os.path.join(os.environ["RUN_DIR"], f"{method}-{kind}"), **spec)
            exp = Experiment(cfg, splits=splits[dataset, spec.get("image_size")],
                             log=lambda *a: None)
            before = exp.model.evaluate(exp.datasets()[1], verbose=0, return_dict=True)
            history = exp.train()
            row[kind] = {k: float(v[-1]) for k, v in history.history.items()}
            row[kind].update({f"initial_val_{k}": float(v) for k, v in before.items()})
            row[kind].update(replicas=exp.replicas, steps=exp.steps_done())
        row["expected_steps"] = 12
        results["families"][method] = row

    from tuner.search import search

    lines = []
    path, record = search(make("conv", epochs=1, steps_per_epoch=2, batch_size=8,
                               max_train_images=64, distribute="mirrored",
                               export_dir=os.path.join(os.environ["RUN_DIR"], "tuned")),
                          "random", 1, directory=os.path.join(os.environ["RUN_DIR"], "tuner"),
                          splits=cars, log=lines.append)
    results["tuner"] = {"log": lines, "score": record["score"],
                        "exported": os.path.exists(os.path.join(path, "saved_model.pb"))}
    print(json.dumps(results))


def test_tuner_trials_train_under_mirrored(mirrored):
    tuner = mirrored["tuner"]
    assert "Trials train under mirrored: 2 replicas x 8 = 16 images a step." in tuner["log"]
    assert np.isfinite(tuner["score"]) and tuner["exported"]


# ---------------------------------------------------------------- multi_worker on localhost

def test_two_process_multi_worker_run_finishes_an_epoch(tmp_path, data_dir):
    run = tmp_path / "run"
    workers = [f"localhost:{p}" for p in free_ports(2)]
    args = ["-m", "tfinpaint.main", "--distribute=multi_worker", "--method=conv", "--filters=8",
            "--kernel_size=3", f"--model_dir={run}", "--epochs=1", "--steps_per_epoch=3",
            "--batch_size=8", "--max_train_images=64", "--checkpoint_every_steps=2",
            "--eval_images=20", "--classical=mean"]
    procs = []
    for index in range(2):
        tf_config = json.dumps({"cluster": {"worker": workers},
                                "task": {"type": "worker", "index": index}})
        procs.append(subprocess.Popen([sys.executable, *args], cwd=ROOT, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      env=env(TF_CONFIG=tf_config, TFINPAINT_DATA_DIR=data_dir)))
    outs = []
    try:
        for p in procs:
            outs.append(p.communicate(timeout=300))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (stdout, stderr) in zip(procs, outs):
        assert p.returncode == 0, stderr[-4000:]
    chief, worker = outs[0][0], outs[1][0]
    assert "3 steps of 16 (8 per replica x 2 replicas, multi_worker)" in chief
    assert "chief evaluates and exports" in worker
    with open(run / "training.json") as f:
        record = json.load(f)
    assert (record["epochs"], record["steps"], record["replicas"]) == (1, 3, 2)
    assert os.path.exists(run / "export" / "conv" / "1" / "saved_model.pb")
    assert os.path.exists(run / "metrics.json")
    assert not [d for d in os.listdir(run) if d.startswith(".worker")]  # scratch removed


# ---------------------------------------------------------------- flags

def test_batch_size_is_per_replica(tmp_path, data_dir):
    out = python(["-m", "tfinpaint.main", "--distribute=mirrored", "--logical_cpus=2",
                  "--method=conv", "--batch_size=40", "--max_train_images=64",
                  f"--model_dir={tmp_path}"], TFINPAINT_DATA_DIR=data_dir)
    assert out.returncode == 2
    assert ("batch size 80 (40 per replica x 2 replicas) is larger than the 64 training images"
            in out.stderr), out.stderr[-2000:]
    assert "Traceback" not in out.stderr


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "mirrored":
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            os.environ["RUN_DIR"] = tmp
            run_mirrored_checks()
