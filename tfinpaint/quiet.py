"""Quiet start-up: import this module first in an entry point, before anything imports TensorFlow.

    import tfinpaint.quiet  # noqa: F401  (first: TensorFlow's start-up lines)

`import tensorflow` prints lines of its own before any of ours: the oneDNN notice, the CPU
feature notice, "Could not find cuda drivers" and, when the devices are first listed, "failed
call to cuInit". Most are written before TensorFlow's C++ logging is set up, so
TF_CPP_MIN_LOG_LEVEL cannot hide them. This module imports TensorFlow and lists its devices while
file descriptor 2 (stderr) goes through a small filter process that drops those known lines, one
by one, and passes everything else on at once: a warning, an error or a crash report while
TensorFlow starts is still shown. The CUDA lines are dropped only on a machine with no NVIDIA
device (/dev/nvidia*): where there is one, a failing cuInit is a real problem and stays visible.
TF_CPP_MIN_LOG_LEVEL is set to 2 unless already set (TensorFlow's later INFO/WARNING lines).

TFINPAINT_TF_LOGS=1 (or --verbosity=1 / -v 1 and above on the command line) turns all of this off:
TensorFlow then prints what it prints.
"""
import glob
import os
import subprocess
import sys

ENV = "TFINPAINT_TF_LOGS"

_HEAD = r"^[IWE]\d{4} [\d:.]+\s+\d+ "  # absl's "I0000 00:00:1795315257.435308    3155 "
NOISE = [  # TensorFlow's start-up lines on every machine
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    _HEAD + r"port\.cc:\d+\] oneDNN custom operations are on\.",
    _HEAD + r"cpu_feature_guard\.cc:\d+\] This TensorFlow binary is optimized to use available CPU",
    r"^To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler",
    _HEAD + r"\w+\.cc:\d+\] Unable to register cu(DNN|FFT|BLAS) factory: Attempting to register",
    _HEAD + r"computation_placer\.cc:\d+\] computation placer already registered",
]
NO_GPU_NOISE = [  # lines that only say "no GPU here": dropped when the machine has no NVIDIA device
    _HEAD + r"cudart_stub\.cc:\d+\] Could not find cuda drivers on your machine, GPU will not be",
    _HEAD + r"cuda_platform\.cc:\d+\] failed call to cuInit: ",
    _HEAD + r"cuda_executor\.cc:\d+\] failed call to cuInit: ",
    _HEAD + r"cuda_diagnostics\.cc:\d+\] ",
]

# The filter runs in its own process, so that if TensorFlow crashes while it starts, what it
# wrote is still passed on (the pipe's reader outlives the writer).
_FILTER = r"""
import re, sys
noise = re.compile(sys.argv[1].encode())
out = sys.stdout.buffer
for line in sys.stdin.buffer:
    if not noise.search(line):
        out.write(line)
        out.flush()
"""


def wanted():
    """True when the user asked for TensorFlow's own start-up output."""
    if os.environ.get(ENV, "").strip() not in ("", "0"):
        return True
    for i, arg in enumerate(sys.argv[1:], 1):
        value = None
        if arg.startswith(("--verbosity=", "-v=")):
            value = arg.split("=", 1)[1]
        elif arg in ("--verbosity", "-v") and i + 1 < len(sys.argv):
            value = sys.argv[i + 1]
        if value is not None:
            try:
                return int(value) >= 1
            except ValueError:
                return False
    return False


def patterns():
    """The regular expression of the lines dropped on this machine."""
    found = NOISE + ([] if glob.glob("/dev/nvidia[0-9]*") else NO_GPU_NOISE)
    return "|".join(f"(?:{p})" for p in found)


class filtered_stderr:
    """Context manager: stderr (file descriptor 2, so C++ output too) minus the lines matching
    `pattern`. Does nothing if the filter process cannot be started."""

    def __init__(self, pattern):
        self.pattern = pattern
        self.process = None

    def __enter__(self):
        try:
            sys.stderr.flush()
            self.saved = os.dup(2)
            read, write = os.pipe()
            self.process = subprocess.Popen([sys.executable, "-S", "-I", "-c", _FILTER,
                                             self.pattern], stdin=read, stdout=self.saved,
                                            stderr=self.saved, close_fds=True)
            os.close(read)
            os.dup2(write, 2)
            os.close(write)
        except OSError:
            self.process = None
        return self

    def __exit__(self, *exc):
        if self.process is None:
            return False
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(self.saved, 2)  # closes the pipe's last write end: the filter reads to the end
        os.close(self.saved)
        self.process.wait()
        return False


def silence():
    """Imports TensorFlow (and lists its devices) with the start-up lines filtered. Idempotent;
    does nothing when TensorFlow was imported already or the user wants its logs."""
    if "tensorflow" in sys.modules or wanted():
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with filtered_stderr(patterns()):
        import tensorflow as tf

        tf.config.list_physical_devices()  # "failed call to cuInit" is printed here, once


silence()
