"""TensorFlow's distribution engine for every method: one strategy factory, and per-replica seeds.

    --distribute=none          the default strategy (one device)
    --distribute=mirrored      synchronous data parallelism over this machine's GPUs (without
                               GPUs: its logical CPU devices, see --logical_cpus)
    --distribute=multi_worker  the same over several machines; each reads its place in the
                               cluster from the TF_CONFIG environment variable
    --distribute=tpu           a TPU (--tpu: its name or grpc:// address; '' = the local one)

The model, its optimizers and the checkpoint are created under `strategy.scope()`; `batch_size`
is per replica, so a step trains on batch_size x num_replicas_in_sync images.
"""
import json
import os

import tensorflow as tf

from tfinpaint import keras_compat
from tfinpaint.constants import DISTRIBUTE
from tfinpaint.utils import ConfigError


def split_cpu(n):
    """Splits the first CPU into `n` logical devices (n > 1), so `mirrored` runs n replicas
    without GPUs (tests, benchmarks). Must run before TensorFlow initialises its devices."""
    if not n or n < 2:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)])
    except RuntimeError as e:  # devices already initialised: fine if they are already split
        if len(tf.config.list_logical_devices("CPU")) != n:
            raise ConfigError(f"cannot split the CPU into {n} logical devices now ({e}).") from e


def strategy(kind="none", tpu=None):
    """The `tf.distribute.Strategy` for --distribute=`kind`. Create it before any other
    TensorFlow work: `multi_worker` and `tpu` configure the runtime. One instance per kind and
    process: two MirroredStrategy objects over the same devices number their collective ops
    alike, and the second one's all-reduces then fail with "Shape mismatch in the collective
    instance" (several Experiments in one process, e.g. tests and benchmarks, share it)."""
    if kind in (None, "none"):
        return tf.distribute.get_strategy()
    if kind not in _STRATEGIES:
        _STRATEGIES[kind] = _make(kind, tpu)
    return _STRATEGIES[kind]


_STRATEGIES = {}


def _make(kind, tpu):
    if kind == "mirrored":
        devices = None
        if not tf.config.list_logical_devices("GPU"):
            cpus = tf.config.list_logical_devices("CPU")
            devices = [d.name for d in cpus] if len(cpus) > 1 else None
        return tf.distribute.MirroredStrategy(devices)
    if kind == "multi_worker":
        config = os.environ.get("TF_CONFIG")
        if config:
            try:
                json.loads(config)["cluster"]
            except (ValueError, KeyError, TypeError) as e:
                raise ConfigError(f"TF_CONFIG is not a cluster description ({e}); see "
                                  "https://www.tensorflow.org/guide/distributed_training"
                                  "#setting_up_the_tf_config_environment_variable") from e
        return tf.distribute.MultiWorkerMirroredStrategy()
    if kind == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ConfigError(f"unknown --distribute={kind!r}; choose from {', '.join(DISTRIBUTE)}.")


def worker(strategy_):
    """(task type, task id) of this process in a multi-worker cluster, else (None, 0)."""
    resolver = getattr(strategy_, "cluster_resolver", None)
    if not isinstance(strategy_, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return None, 0
    return resolver.task_type, resolver.task_id or 0


def is_chief(strategy_):
    """Whether this process writes the run's files (the chief, or worker 0 without a chief)."""
    task_type, task_id = worker(strategy_)
    if task_type in (None, "chief"):
        return True
    has_chief = "chief" in strategy_.cluster_resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and not has_chief


# Random streams. Every draw takes its key from a (seed, stream) pair, so no two kinds of draw
# share a Philox key even when their seed generators hold the same state (the hole maker and the
# CVAE noise are both seeded with --seed, and keras' SeedGenerator.next() only adds [0, 1]).
HOLE_ROW, HOLE_COLUMN, HOLE_BANK, LATENT, FLIP, STROKES, AUGMENT = range(1, 8)


def stream_key(seed, stream):
    """The int32 [2] key of draw kind `stream` (one of the constants above) for `seed` (int [2]),
    folded with the replica id when several replicas run in sync: mirrored seed generators hold
    the same state on every replica, so without this every replica would cut the same holes and
    draw the same noise."""
    key = tf.random.experimental.stateless_fold_in(tf.cast(seed, tf.int64), stream)
    context = tf.distribute.get_replica_context()
    if context is not None and context.num_replicas_in_sync > 1:
        key = tf.random.experimental.stateless_fold_in(
            key, tf.cast(context.replica_id_in_sync_group, tf.int64))
    return tf.cast(tf.math.floormod(key, tf.int32.max), tf.int32)


def normal(shape, seed_generator, stream=LATENT):
    """Standard normal noise of kind `stream` from a keras `SeedGenerator` (checkpointed with the
    model, so a resumed run draws what the uninterrupted one would have drawn)."""
    return tf.random.stateless_normal(shape, stream_key(seed_generator.next(), stream))


def step_logs(logs):
    """A train_step's or test_step's logs, as Keras can reduce them over replicas. Keras 3
    reduces them under a multi-worker strategy with `strategy.reduce("MEAN", v, axis=0)`, which
    fails on scalars ("Invalid reduction dimension 0 for input with 0 dimensions",
    tensorflow/tensorflow#72388): there each value goes out with shape [1] (and comes back a
    scalar); elsewhere the logs are unchanged."""
    if not keras_compat.in_multi_worker_mode(tf.distribute.get_strategy()):
        return logs
    return {name: tf.reshape(value, [1]) for name, value in logs.items()}
