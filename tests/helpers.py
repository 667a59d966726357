"""Small helpers several test files share: `from helpers import ROOT, png, free_port`. pytest
puts tests/ on sys.path (as for conftest.py), and so does running a test file as a script.
No TensorFlow at import: test_docs and the scripts that test_crash runs import this too. The
REST rows for `inpaint_bytes` come from the client: `from serving.client import bytes_row`."""
import os
import socket

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def png(pixels):
    """An HxWxC uint8 array -> PNG bytes."""
    import tensorflow as tf

    return tf.io.encode_png(pixels).numpy()


def free_ports(n):
    """n distinct free TCP ports on 127.0.0.1 (all bound at once, then released)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def free_port():
    return free_ports(1)[0]
