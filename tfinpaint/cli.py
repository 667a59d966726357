"""The `tfinpaint` command: fill your own photos, no training first.

    tfinpaint fill photo.jpg mask.png -o filled.png          # the shipped photo model
    tfinpaint fill photos/ masks/ -o filled/                  # a folder: masks named like photos
    tfinpaint fill photo.jpg mask.png -o out.png --model=runs/unet/export/unet   # any export

A mask is white (or transparent) where the photo is to be filled. Photos of any size: each hole
region is filled in a crop round it at a working size (`tfinpaint.regions`), so time and memory
follow the holes, not the photo. Errors are one line, `tfinpaint: error: ...`. `python -m
tfinpaint.main` trains, evaluates and exports methods; `python -m serving.server` serves exports.
"""
import argparse
import os
import sys
import time

DEFAULT_MODEL = "photos"  # tfinpaint/pretrained/photos


class CommandError(Exception):
    """Bad input named in one line."""


def model_fill(model):
    """fill_fn(crop uint8, hole bool) for `tfinpaint.regions`: a shipped model's name or a
    SavedModel folder, called as the photo protocol calls them (`tfinpaint.photo_protocol`)."""
    import numpy as np

    from tfinpaint import photo_protocol, pretrained

    path = os.path.expanduser(model)
    if os.path.exists(path):
        fill = photo_protocol.signature_fill(path)
    elif os.sep in model or model not in pretrained.names():
        raise CommandError(f"--model={model}: no such SavedModel folder, and no shipped model "
                           f"of that name (shipped: {', '.join(pretrained.names()) or 'none'}).")
    else:
        fill = photo_protocol.pretrained_fill(model)

    def fill_crop(crop, hole):
        mask = (~hole)[..., None].astype(np.float32)
        return photo_protocol.composite(crop, mask, np.asarray(fill(crop, mask)))
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
    fill_fn = regions.padded(model_fill(args.model), 8)
    start = time.perf_counter()
    for i, (src, dst, image, hole) in enumerate(checked):
        out = regions.fill(image, hole, fill_fn, working=args.working, detail=args.detail)
        atomic_write_bytes(dst, tf.io.encode_png(out).numpy())
        progress(i + 1, len(checked), start)
        if len(checked) == 1:
            print(f"wrote {dst} ({time.perf_counter() - start:.1f} s)")


def parser():
    p = argparse.ArgumentParser(prog="tfinpaint", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fill", help="fill the masked parts of a photo (or a folder of photos)")
    f.add_argument("photo", help="a photo (PNG/JPEG/BMP/GIF) or a folder of photos")
    f.add_argument("mask", help="its mask (white or transparent = fill), or a folder of masks "
                   "named like the photos")
    f.add_argument("-o", "--output", required=True, help="output PNG (a folder for a folder)")
    f.add_argument("--model", default=DEFAULT_MODEL, help="a shipped model's name (default: "
                   f"{DEFAULT_MODEL}) or a SavedModel folder exported by tfinpaint")
    f.add_argument("--working", type=int, default=512, help="the longer side, in pixels, at "
                   "which each hole's crop is filled (bigger crops are downscaled; default 512)")
    f.add_argument("--no-detail", dest="detail", action="store_false", help="do not carry the "
                   "photo's own fine detail into the edge of downscaled fills")
    f.set_defaults(run=fill_command)
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
