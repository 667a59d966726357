"""REST client for the exported models, on `requests`: PNG/JPEG/BMP/GIF/WebP in, PNG out.

    python -m serving.client --url=http://localhost:8501 --model=ae_patch \
        --image=photo.png --mask=mask.png --output=filled.png
    python -m serving.client --model=ae_patch --image=photos/ --hole=8,8,12 --output=filled/

It posts TF Serving's row format to the `inpaint_bytes` signature, so it works the same against
`tensorflow_model_server` and against `python -m serving.server`. With a folder, every image is
sent (the mask of the same name from --mask if that is a folder) and nothing is written unless
every request succeeded.
"""
import base64
import operator
import os
import sys

import requests
from absl import app, flags
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from tfinpaint.inpaint import InputError, parse_hole


class ServingError(Exception):
    """The server answered with an error (its `{"error": ...}` text), or could not be reached."""


class Client:
    """`Client("http://localhost:8501").inpaint("ae_patch", png_bytes, hole=(8, 8, 12))`."""

    def __init__(self, url="http://localhost:8501", timeout=60.0, retries=3):
        self.url, self.timeout = url.rstrip("/"), timeout
        self.session = requests.Session()
        # 503 (server busy) is retried after its Retry-After; the last answer is returned as it
        # is (raise_on_status=False) so its JSON error reaches the caller.
        retry = Retry(total=retries, connect=retries, read=0, backoff_factor=0.2,
                      allowed_methods=None, status_forcelist=[503], raise_on_status=False)
        self.session.mount("http://", HTTPAdapter(max_retries=retry, pool_maxsize=64))
        self.session.mount("https://", HTTPAdapter(max_retries=retry, pool_maxsize=64))

    def _path(self, model, version=None):
        return f"{self.url}/v1/models/{model}" + (f"/versions/{version}" if version else "")

    def _call(self, method, url, **kwargs):
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.RequestException as e:
            raise ServingError(f"cannot reach {url}: {e}") from None
        try:
            payload = response.json()
        except ValueError:
            raise ServingError(f"HTTP {response.status_code} from {url}: not JSON: "
                               f"{response.text[:200]!r}") from None
        if response.status_code != 200 or "error" in payload:
            raise ServingError(f"HTTP {response.status_code}: {payload.get('error', payload)}")
        return payload

    def status(self, model, version=None):
        return self._call("GET", self._path(model, version))

    def metadata(self, model, version=None):
        return self._call("GET", self._path(model, version) + "/metadata")

    def predict(self, model, body, version=None):
        """POSTs a predict body (a dict) as it is; returns the parsed answer."""
        return self._call("POST", self._path(model, version) + ":predict", json=body)

    def inpaint(self, model, image, mask=None, hole=None, version=None):
        """Image bytes (+ mask PNG bytes, or hole=(x, y, size)) -> the filled PNG's bytes."""
        return self.inpaint_many(model, [(image, mask, hole)], version)[0]

    def inpaint_many(self, model, items, version=None):
        """[(image bytes, mask bytes or None, (x, y, size) or None)] in one request."""
        rows = [bytes_row(image, mask, hole) for image, mask, hole in items]
        answer = self.predict(model, {"signature_name": "inpaint_bytes", "instances": rows}, version)
        return [base64.b64decode(p["b64"]) for p in answer["predictions"]]


def bytes_row(image, mask=None, hole=None):
    """One `inpaint_bytes` row in TF Serving's REST format: image bytes (PNG/JPEG/BMP/GIF/WebP)
    and either a mask's PNG bytes (hole sent as [0, 0, 0]) or hole=(x, y, size) (mask sent
    empty)."""
    if not isinstance(image, bytes) or not image:
        raise ValueError("every image must be non-empty bytes (an image file's).")
    if mask is None:
        if hole is None:
            raise ValueError("give a mask or a hole (x, y, size) for every image.")
        hole = list(_hole(hole))
    return {"image_bytes": {"b64": base64.b64encode(image).decode("ascii")},
            "mask_bytes": {"b64": base64.b64encode(mask or b"").decode("ascii")},
            "hole": hole if mask is None else [0, 0, 0]}


def _hole(hole):
    """"x,y,size" or (x, y, size) -> (x, y, size), with parse_hole's error (an InputError)."""
    if isinstance(hole, str):
        return parse_hole(hole)
    try:
        x, y, size = (operator.index(v) for v in hole)
    except (TypeError, ValueError):
        raise InputError(f"a hole is (x, y, size), three integers; got {hole!r}.") from None
    return x, y, size


def _read(path):
    """A file's bytes; a photo whose EXIF orientation turns it is sent upright (as PNG), as
    viewers show it and masks are drawn over it: the signature takes pixels as stored."""
    from tfinpaint.utils import upright_bytes

    with open(path, "rb") as f:
        return upright_bytes(f.read())


def main(argv):
    del argv
    from tfinpaint.utils import atomic_write_bytes, file_jobs

    f = flags.FLAGS
    if bool(f.mask) == bool(f.hole):
        raise app.UsageError("give exactly one of --mask and --hole.")
    hole = None
    if f.hole:
        try:
            hole = parse_hole(f.hole)
        except InputError as e:
            raise app.UsageError(str(e)) from None
    client = Client(f.url, f.timeout)
    try:
        work = file_jobs(f.image, f.mask, f.output, ServingError)
        for src, m, _ in work:
            for what, path in (("image", src), ("mask", m)):
                if path and not os.path.isfile(path):
                    raise ServingError(f"{what} {path!r} does not exist.")
        filled = [client.inpaint(f.model, _read(src), _read(m) if m else None, hole, f.version)
                  for src, m, _ in work]
    except ServingError as e:
        print(f"serving.client: error: {e}", file=sys.stderr)
        return 1
    for (src, _, dst), png in zip(work, filled):
        atomic_write_bytes(dst, png)
        print(f"{src} -> {dst}")
    return 0


if __name__ == "__main__":
    flags.DEFINE_string("url", "http://localhost:8501", "TF Serving (or serving.server) REST URL.")
    flags.DEFINE_string("model", None, "Model name.", required=True)
    flags.DEFINE_integer("version", None, "Model version (default: the latest served).",
                         lower_bound=1)
    flags.DEFINE_string("image", None, "Image file or folder.", required=True)
    flags.DEFINE_string("mask", None, "Mask file or folder (white or transparent = hole).")
    flags.DEFINE_string("hole", None, "x,y,size of a square hole (instead of --mask).")
    flags.DEFINE_string("output", None, "Output PNG (a folder when --image is one).", required=True)
    flags.DEFINE_float("timeout", 60.0, "Seconds per request.", lower_bound=1e-3)
    app.run(main)
