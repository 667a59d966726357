"""Small helpers shared by the package: user-facing errors, atomic writes, image-file jobs, EXIF
orientation. No TensorFlow here (serving.client imports it)."""
import io
import os
import tempfile

import numpy as np


class UserError(Exception):
    """Bad input from a user (flag, file, dataset): the CLI prints the message, no traceback."""


class ConfigError(UserError, ValueError):
    """Flags or settings that cannot work together."""


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


# EXIF orientation (tag 0x0112) -> the turn that shows stored pixels [H, W, C] as a viewer does
# (Pillow's ImageOps.exif_transpose; the tests check each against it). A phone stores a portrait
# photo's pixels as the sensor read them, turned, with the tag; masks are drawn over it upright.
UPRIGHT = {
    2: lambda a: a[:, ::-1],  # mirrored
    3: lambda a: a[::-1, ::-1],  # upside down
    4: lambda a: a[::-1],  # mirrored upside down
    5: lambda a: a.transpose(1, 0, 2),  # transposed
    6: lambda a: np.rot90(a, -1),  # stored turned left: turn right
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),  # transversed
    8: lambda a: np.rot90(a, 1),  # stored turned right: turn left
}


def exif_orientation(data):
    """The EXIF orientation tag (1-8) of image bytes; 1 (as stored) without one, or when Pillow
    cannot read the file (whoever decodes it reports why)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            value = image.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001
        return 1
    return value if value in UPRIGHT else 1


def upright(pixels, data):
    """`pixels` [H, W, C] decoded from image bytes `data`, turned as its EXIF orientation says."""
    turn = UPRIGHT.get(exif_orientation(data))
    return pixels if turn is None else np.ascontiguousarray(turn(np.asarray(pixels)))


def upright_bytes(data):
    """Image bytes as they are, or, when their EXIF orientation turns them, the upright pixels as
    PNG bytes (what a client sends to a server that takes pixels as stored)."""
    if exif_orientation(data) == 1:
        return data
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        if image.mode not in ("L", "LA", "RGB", "RGBA"):  # palette, CMYK, ...
            image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        pixels = np.asarray(image)
    out = io.BytesIO()
    Image.fromarray(upright(pixels, data)).save(out, "PNG")
    return out.getvalue()


def file_jobs(image, mask, output, error=UserError):
    """[(image path, mask path or None, output PNG path)] for one image or a folder of them
    (the mask of the same name when `mask` is a folder too); `error` is raised on bad paths."""
    if os.path.isdir(image):
        names = sorted(n for n in os.listdir(image) if n.lower().endswith(IMAGE_SUFFIXES))
        if not names:
            raise error(f"folder {image!r} has no PNG/JPEG/BMP/GIF/WebP images.")
        if os.path.exists(output) and not os.path.isdir(output):
            raise error(f"--image is a folder, so --output must be a folder; {output!r} is a file.")
        return [(os.path.join(image, n), os.path.join(mask, n) if mask and os.path.isdir(mask)
                 else mask, os.path.join(output, os.path.splitext(n)[0] + ".png")) for n in names]
    if mask and os.path.isdir(mask):
        raise error("--image is one file, so --mask must be one file too.")
    return [(image, mask, output)]


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
