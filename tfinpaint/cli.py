"""The `tfinpaint` command: fill your own photos, no training first.

    tfinpaint fill photo.jpg mask.png -o filled.png          # the shipped photo model
    tfinpaint fill photos/ masks/ -o filled/                  # a folder: masks named like photos
    tfinpaint fill photo.jpg mask.png -o out.png --model=runs/unet/export/unet   # any export
    tfinpaint fill photo.jpg mask.png -o out.png --url=http://host:8501  # a TF Serving model
    tfinpaint serve                        # the page and TF Serving's REST API, shipped model
    tfinpaint serve --model=unet=runs/unet/export/unet   # ...and any exports beside it

A mask is white (or transparent) where the photo is to be filled. Photos of any size: each hole
region is filled in a crop round it at a working size (`tfinpaint.regions`), so time and memory
follow the holes, not the photo. With `--url` the crops go to a TF Serving REST API (stock
`tensorflow_model_server` or `tfinpaint serve`) as PNGs, each at most the working size, so the
server's work per request is bounded whatever the photo. Errors are one line, `tfinpaint: error:
...`. `python -m tfinpaint.main` trains, evaluates and exports methods; `python -m serving.server`
serves exports from a TF Serving model config.
"""
import argparse
import os
import sys
import time

DEFAULT_MODEL = "photos"  # tfinpaint/pretrained/photos


class CommandError(Exception):
    """Bad input named in one line."""


def model_fill(model, url=None):
    """fill_fn(crop uint8, hole bool) for `tfinpaint.regions`: a shipped model's name or a
    SavedModel folder, called as the photo protocol calls them (`tfinpaint.photo_protocol`), or
    with `url` the model of that name on a TF Serving REST API."""
    from tfinpaint import photo_protocol, pretrained

    if url:
        return rest_fill(url, model)
    path = os.path.expanduser(model)
    if os.path.exists(path):
        fill = photo_protocol.signature_fill(path)
    elif os.sep in model or model not in pretrained.names():
        raise CommandError(f"--model={model}: no such SavedModel folder, and no shipped model "
                           f"of that name (shipped: {', '.join(pretrained.names()) or 'none'}).")
    else:
        fill = photo_protocol.pretrained_fill(model)
    return photo_protocol.crop_fill(fill)


def rest_fill(url, model):
    """fill_fn sending each crop to `model` on the TF Serving REST API at `url` (the
    `inpaint_mask_bytes` signature: PNG crop and PNG mask in, PNG out; a busy server's 503 is
    retried after its Retry-After by `serving.client.Client`)."""
    import numpy as np
    import tensorflow as tf

    from serving.client import Client, ServingError

    client = Client(url)

    def fill_crop(crop, hole):
        mask = np.where(hole, 255, 0).astype(np.uint8)[..., None]  # white = hole
        try:
            png = client.inpaint(model, tf.io.encode_png(crop).numpy(),
                                 tf.io.encode_png(mask).numpy())
        except ServingError as e:
            raise CommandError(f"{url} model {model}: {e}") from None
        out = tf.io.decode_png(png, channels=3).numpy()
        return np.where(hole[..., None], out, crop)
    return fill_crop


def jobs(photo, mask, output):
    from tfinpaint.utils import file_jobs

    photo, mask, output = (os.path.expanduser(p) for p in (photo, mask, output))
    for path, what in ((photo, "photo"), (mask, "mask")):
        if not os.path.exists(path):
            raise CommandError(f"{what} {path!r} does not exist.")
    return file_jobs(photo, mask, output, CommandError)


def progress(done, total, start, stream=sys.stderr):
    if total < 2:
        return
    width = 30
    filled = width * done // total
    seconds = time.perf_counter() - start
    stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} photos, "
                 f"{seconds:.0f} s")
    stream.write("\n" if done == total else "")
    stream.flush()


def fill_command(args):
    import tensorflow as tf

    from tfinpaint import regions
    from tfinpaint.data.masks import read_image, read_mask
    from tfinpaint.utils import atomic_write_bytes

    work = jobs(args.photo, args.mask, args.output)
    checked = []
    for src, mask_path, dst in work:  # every input read and checked before anything is written
        image = read_image(src)
        hole = read_mask(mask_path, image.shape[:2])[..., 0] < 0.5
        checked.append((src, dst, image, hole))
    fill_fn = regions.padded(model_fill(args.model, args.url), 8)
    start = time.perf_counter()
    for i, (src, dst, image, hole) in enumerate(checked):
        out = regions.fill(image, hole, fill_fn, working=args.working, detail=args.detail)
        atomic_write_bytes(dst, tf.io.encode_png(out).numpy())
        progress(i + 1, len(checked), start)
        if len(checked) == 1:
            print(f"wrote {dst} ({time.perf_counter() - start:.1f} s)")


def cache_dir(given=None):
    root = given or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "tfinpaint")
    return os.path.abspath(os.path.expanduser(root))


def code_digest():
    """SHA-256 (hex) of the package's Python sources: the code an export's graph is built from."""
    import hashlib

    digest = hashlib.sha256()
    root = os.path.dirname(os.path.abspath(__file__))
    for folder, dirs, files in sorted(os.walk(root)):
        dirs.sort()
        for name in sorted(f for f in files if f.endswith(".py")):
            path = os.path.join(folder, name)
            digest.update(os.path.relpath(path, root).encode() + b"\0")
            with open(path, "rb") as f:
                digest.update(f.read() + b"\0")
    return digest.hexdigest()


def shipped_export(name, cache):
    """The SavedModel base folder of shipped model `name`, exported once into `cache`, keyed by
    its weights' SHA-256 and the package's code (`code_digest`: new weights, or code that builds
    another graph, e.g. accepts another image format, get a new export); a half-written export
    never shows: `tfinpaint.export` renames a finished version folder into place."""
    from tfinpaint import export, pretrained

    key = f"{pretrained.manifest(name)['sha256'][:12]}-{code_digest()[:12]}"
    base = os.path.join(cache, "exports", f"{name}-{key}")
    if not export.versions(base):
        print(f"exporting the shipped model {name!r} to {base} (once)", flush=True)
        os.makedirs(base, exist_ok=True)
        pretrained.export(name, base, version=1)
    return base


def export_base(name, path):
    """The folder of version folders for `--model NAME=PATH` (PATH may be one version)."""
    from tfinpaint import export

    path = os.path.abspath(os.path.expanduser(path))
    if not os.path.isdir(path):
        raise CommandError(f"--model {name}={path}: no such folder.")
    if export.versions(path):
        return path
    if os.path.exists(os.path.join(path, "saved_model.pb")) and os.path.basename(path).isdigit():
        return os.path.dirname(path)
    raise CommandError(f"--model {name}={path}: neither a SavedModel version folder (N/ with "
                       "saved_model.pb) nor a folder of them.")


def model_configs(entries, shipped=True, cache=None):
    """[(name, base path)] to serve: the shipped models, then `entries` ("NAME=PATH")."""
    from tfinpaint import pretrained

    bases = {}
    for entry in entries:
        name, sep, path = entry.partition("=")
        if not sep or not name or not path:
            raise CommandError(f"--model takes NAME=PATH, got {entry!r}.")
        if name in bases:
            raise CommandError(f"--model {name} is given twice.")
        bases[name] = export_base(name, path)
    if shipped:
        for name in pretrained.names():
            if name not in bases:
                bases = {name: shipped_export(name, cache_dir(cache)), **bases}
    if not bases:
        raise CommandError("nothing to serve: no shipped model in this install and no --model.")
    return list(bases.items())


def start_server(bases, port=8501, host="127.0.0.1"):
    """A started `serving.server.Server` (REST API and page) on [(name, base path)]."""
    from serving.server import Server, parse_model_config

    text = "model_config_list {\n" + "".join(
        f'  config {{ name: "{n}" base_path: "{b}" model_platform: "tensorflow" }}\n'
        for n, b in bases) + "}\n"
    try:
        server = Server(parse_model_config(text), port, host)
    except OSError as e:
        raise CommandError(f"cannot listen on {host}:{port} ({e}); pick another with "
                           "--port.") from None
    return server.start()


def serve_command(args):
    bases = model_configs(args.model, args.shipped, args.cache)
    server = start_server(bases, args.port, args.host)
    for name, base in bases:
        print(f"model {name}: {base}")
    print(f"open {server.url}/ in a browser (REST API: {server.url}/v1/models/<name>); "
          "Ctrl-C stops.", flush=True)
    server.wait()


def parser():
    from tfinpaint.regions import WORKING  # cv2 and numpy: no TensorFlow

    p = argparse.ArgumentParser(prog="tfinpaint", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fill", help="fill the masked parts of a photo (or a folder of photos)")
    f.add_argument("photo", help="a photo (PNG/JPEG/BMP/GIF/WebP) or a folder of photos")
    f.add_argument("mask", help="its mask (white or transparent = fill), or a folder of masks "
                   "named like the photos")
    f.add_argument("-o", "--output", required=True, help="output PNG (a folder for a folder)")
    f.add_argument("--model", default=DEFAULT_MODEL, help="a shipped model's name (default: "
                   f"{DEFAULT_MODEL}) or a SavedModel folder exported by tfinpaint")
    f.add_argument("--working", type=int, default=WORKING, help="the longer side, in pixels, at "
                   f"which each hole's crop is filled (bigger crops are downscaled; default "
                   f"{WORKING})")
    f.add_argument("--no-detail", dest="detail", action="store_false", help="do not carry the "
                   "photo's own fine detail into the edge of downscaled fills")
    f.add_argument("--url", help="fill with --model (a name) served by this TF Serving REST API "
                   "(e.g. http://localhost:8501) instead of in this process")
    f.set_defaults(run=fill_command)
    s = sub.add_parser("serve", help="serve the page and TF Serving's REST API on the shipped "
                       "model (and any exports), no training")
    s.add_argument("--model", action="append", default=[], metavar="NAME=PATH",
                   help="also serve this export (a SavedModel's version folder or the folder "
                   "of its versions); repeat for more")
    s.add_argument("--no-shipped", dest="shipped", action="store_false",
                   help="serve only the --model exports")
    s.add_argument("--port", type=int, default=8501, help="HTTP port (default 8501)")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every "
                   "interface; default 127.0.0.1)")
    s.add_argument("--cache", default=None, help="where the shipped models are exported once "
                   "(default: $XDG_CACHE_HOME/tfinpaint or ~/.cache/tfinpaint)")
    s.set_defaults(run=serve_command)
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    import tfinpaint.quiet  # noqa: F401  (before TensorFlow: its start-up lines)
    from tfinpaint.pretrained import PretrainedError
    from tfinpaint.utils import UserError

    try:
        args.run(args)
    except (CommandError, UserError, PretrainedError, FileNotFoundError, ValueError) as e:
        message = " ".join(str(e).split()) or type(e).__name__
        print(f"tfinpaint: error: {message}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 (TensorFlow's own errors: one line, not a traceback)
        message = getattr(e, "message", None) or str(e)
        print(f"tfinpaint: error: {' '.join(message.split())[:500]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
