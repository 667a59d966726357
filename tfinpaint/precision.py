"""Training precision through Keras 3 dtype policies.

    float32          everything in float32
    mixed_bfloat16   layers compute in bfloat16, variables stay float32 (fast on CPUs with native
                     bf16 instructions: AVX512_BF16 or AMX; TPUs; Ampere+ GPUs)
    mixed_float16    layers compute in float16, with loss scaling (GPUs of compute capability 7+)
    auto             mixed_bfloat16 on CPUs with native bf16, mixed_float16 on GPUs that support
                     it, float32 otherwise

Output layers, discriminator logits, the CVAE's mean/log-variance, losses, metrics, compositing
and every exported signature stay float32 (the models' output layers say dtype="float32").
"""
import keras
import tensorflow as tf

from tfinpaint.constants import POLICIES, PRECISIONS


def cpu_has_native_bf16():
    """Whether this CPU has bf16 instructions oneDNN uses (AVX512_BF16 or AMX-BF16)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def gpu_supports_float16():
    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        if capability and capability >= (7, 0):
            return True
    return False


def resolve(name):
    """The dtype policy name for --precision=`name` (`auto` decided from the hardware)."""
    if name in POLICIES:
        return name
    if name != "auto":
        from tfinpaint.utils import ConfigError

        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {name!r}.")
    if tf.config.list_physical_devices("GPU"):
        return "mixed_float16" if gpu_supports_float16() else "float32"
    return "mixed_bfloat16" if cpu_has_native_bf16() else "float32"


def apply(name):
    """Sets Keras' global dtype policy for models built from now on; returns the policy name."""
    policy = resolve(name)
    keras.mixed_precision.set_dtype_policy(policy)
    return policy


def emulated_bf16(policy):
    """Whether `policy` computes in bf16 on a CPU-only machine without native bf16, where
    TensorFlow emulates it, several times slower than float32 (docs/evaluation.md#speed:
    benchmarks/precision_step.py)."""
    return (policy == "mixed_bfloat16" and not tf.config.list_physical_devices("GPU")
            and not cpu_has_native_bf16())


def describe(name):
    """What --precision=`name` trains in here, and why (for the run's log)."""
    policy = resolve(name)
    if name != "auto":
        if emulated_bf16(policy):
            return (f"precision {policy}; WARNING: this CPU has no native bf16 (AVX512_BF16 or "
                    "AMX), so bf16 is emulated and training is several times slower than in "
                    "float32: --precision=auto picks float32 here")
        return f"precision {policy}"
    if tf.config.list_physical_devices("GPU"):
        why = "a GPU with float16" if policy == "mixed_float16" else "a GPU without fast float16"
    else:
        why = ("a CPU with native bf16 (AVX512_BF16/AMX)" if policy == "mixed_bfloat16"
               else "a CPU without native bf16")
    return f"precision {policy} (--precision=auto: {why})"
