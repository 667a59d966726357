"""What every benchmark records beside its figures: the machine and the command."""
import os
import platform
import sys


def machine():
    import tensorflow as tf

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    from tfinpaint.precision import cpu_has_native_bf16

    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    return {"cpu": cpu, "cores": os.cpu_count(), "gpus": gpus, "python": platform.python_version(),
            "tensorflow": tf.__version__, "native_bf16": cpu_has_native_bf16()}


def command():
    return "python " + " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:])


def value(text):
    """A command-line setting's value: int, float, true/false, else the text."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)
