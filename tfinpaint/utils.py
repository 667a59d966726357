"""Small helpers shared by the package: user-facing errors and atomic writes."""
import os
import tempfile


class UserError(Exception):
    """Bad input from a user (flag, file, dataset): the CLI prints the message, no traceback."""


class ConfigError(UserError, ValueError):
    """Flags or settings that cannot work together."""


def atomic_write_bytes(path, data):
    """Writes `data` to `path` through a temporary file in the same folder and a rename, so a
    crash leaves either the old file or the new one, never half of one."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_text(path, text):
    atomic_write_bytes(path, text.encode("utf-8"))
