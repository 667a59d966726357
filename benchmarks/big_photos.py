"""12-megapixel photos: `tfinpaint fill` (the shipped model, region by region) beside OpenCV's
Telea on the same photos and masks, in one run; wall time and peak memory (RSS) of each command.

    python benchmarks/big_photos.py --data_dir=../shared/data

Kodak photos are centre-cropped to 4:3 and upsampled (Lanczos) to 4032x3024, the size of a 12 MP
phone photo; each gets brushed masks of 2, 5 and 10% of the photo (a brush of random strokes
round one spot, seeded, until the share is reached: what a person removing an object paints).
Each command runs as its own process, as a person would run it: `tfinpaint fill PHOTO MASK -o
OUT` and a Python process that reads the same files, calls `cv2.inpaint(..., INPAINT_TELEA)` and
writes the PNG (`--telea`). Both times include reading and writing the PNGs and start-up (import
TensorFlow, load the model, for tfinpaint). Peak RSS is the child's ru_maxrss. Known pixels are
checked unchanged in every output. A folder run (`tfinpaint fill DIR DIR -o DIR`) gives the time
per photo once start-up is paid.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import common  # noqa: E402
from tfinpaint.data.sources import resolve_data_dir  # noqa: E402
from tfinpaint.photo_protocol import photo_paths  # noqa: E402

flags.DEFINE_string("data_dir", None, "Data folder with photos/kodak.")
flags.DEFINE_integer("photos", 4, "Kodak photos used (kodim01, ...).", lower_bound=1)
flags.DEFINE_list("shares", ["0.02", "0.05", "0.10"], "Mask shares of the photo.")
flags.DEFINE_string("size", "4032x3024", "WxH the photos are upsampled to.")
flags.DEFINE_string("model", "photos", "tfinpaint fill --model.")
flags.DEFINE_string("out", "benchmarks/results/big_photos.json", "Results JSON.")
flags.DEFINE_string("sample", "benchmarks/results/samples/big_photo_5pct.jpg",
                    "A side-by-side of one 5% fill (photo with hole, tfinpaint, Telea), scaled "
                    "down, and full-resolution crops of the hole ('' = none).")
flags.DEFINE_string("telea", None, "Internal: PHOTO,MASK,OUT: run Telea on them and exit.")
FLAGS = flags.FLAGS


def brushed_mask(shape, share, seed):
    """bool [H, W]: random brush strokes round one spot until `share` of the photo is covered."""
    h, w = shape
    rng = np.random.default_rng(seed)
    mask = np.zeros((h, w), np.uint8)
    radius = max(4, int(np.sqrt(share * h * w) / 6))
    x, y = rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h
    cx, cy = x, y
    target = share * h * w
    while mask.sum() < target:
        angle = rng.uniform(0, 2 * np.pi)
        length = rng.uniform(1, 3) * radius
        nx = np.clip(x + length * np.cos(angle), 0, w - 1)
        ny = np.clip(y + length * np.sin(angle), 0, h - 1)
        nx, ny = nx + 0.3 * (cx - nx), ny + 0.3 * (cy - ny)  # stay round the spot
        cv2.line(mask, (int(x), int(y)), (int(nx), int(ny)), 1, thickness=2 * radius,
                 lineType=cv2.LINE_8)
        x, y = nx, ny
    return mask > 0


def run(command):
    """(seconds, peak RSS in MB, exit code, output) of a child process."""
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = child.stdout.read()  # to the end first: a child blocked on a full pipe never exits
    child.stdout.close()
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    return seconds, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status), output


def telea(photo, mask, out):
    image = cv2.imread(photo, cv2.IMREAD_COLOR)
    hole = (cv2.imread(mask, cv2.IMREAD_GRAYSCALE) >= 128).astype(np.uint8)
    cv2.imwrite(out, cv2.inpaint(image, hole, 3, cv2.INPAINT_TELEA))


def unchanged(photo, hole, out):
    a, b = cv2.imread(photo), cv2.imread(out)
    return bool(a.shape == b.shape and np.array_equal(a[~hole], b[~hole]))


def make_inputs(folder, data_dir, count, size, shares):
    """[(photo path, mask path, share, hole)] in `folder`."""
    w, h = size
    items = []
    for i, path in enumerate(photo_paths(data_dir, "kodak")[:count]):
        src = cv2.imread(path)
        sh, sw = src.shape[:2]
        if sw * 3 > sh * 4:  # wider than 4:3: crop the sides
            cw = sh * 4 // 3
            src = src[:, (sw - cw) // 2:(sw - cw) // 2 + cw]
        else:
            ch = sw * 3 // 4
            src = src[(sh - ch) // 2:(sh - ch) // 2 + ch]
        big = cv2.resize(src, (w, h), interpolation=cv2.INTER_LANCZOS4)
        photo = os.path.join(folder, f"kodim{i + 1:02d}.png")
        cv2.imwrite(photo, big)
        for share in shares:
            hole = brushed_mask((h, w), share, seed=1000 * i + int(share * 100))
            mask = os.path.join(folder, f"kodim{i + 1:02d}_{int(share * 100):02d}pct_mask.png")
            cv2.imwrite(mask, np.where(hole, 255, 0).astype(np.uint8))
            items.append((photo, mask, share, hole))
    return items


def sample_figure(photo, hole, ours, theirs, path):
    """Scaled-down side by side of the photo with its hole, the fill and Telea, above
    full-resolution 512-px crops round the hole's centre."""
    images = [cv2.imread(p) for p in (photo, ours, theirs)]
    shown = images[0].copy()
    shown[hole] = (255, 255, 255)
    row = np.concatenate([cv2.resize(x, (672, 504), interpolation=cv2.INTER_AREA)
                          for x in [shown] + images[1:]], axis=1)
    ys, xs = np.nonzero(hole)
    cy, cx = int(ys.mean()), int(xs.mean())
    h, w = hole.shape
    top, left = np.clip(cy - 336, 0, h - 672), np.clip(cx - 336, 0, w - 672)
    crops = [x[top:top + 672, left:left + 672] for x in [shown] + images[1:]]
    figure = np.concatenate([row, np.concatenate(crops, axis=1)], axis=0)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    cv2.imwrite(path, figure, [cv2.IMWRITE_JPEG_QUALITY, 88])


def main(argv):
    del argv
    if FLAGS.telea:
        telea(*FLAGS.telea.split(","))
        return 0
    data_dir = os.path.expanduser(resolve_data_dir(FLAGS.data_dir) or "")
    size = tuple(int(v) for v in FLAGS.size.split("x"))
    shares = [float(s) for s in FLAGS.shares]
    tfinpaint = [os.path.join(os.path.dirname(sys.executable), "tfinpaint")]
    if not os.path.exists(tfinpaint[0]):
        tfinpaint = [sys.executable, "-m", "tfinpaint.cli"]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        items = make_inputs(folder, data_dir, FLAGS.photos, size, shares)
        for photo, mask, share, hole in items:
            row = {"photo": os.path.basename(photo), "target_share": share,
                   "share": round(float(hole.mean()), 4),
                   "size": f"{size[0]}x{size[1]}"}
            for name, command in (
                    ("tfinpaint", tfinpaint + ["fill", photo, mask, "-o", mask + ".ours.png",
                                               f"--model={FLAGS.model}"]),
                    ("telea", [sys.executable, os.path.abspath(__file__),
                               f"--telea={photo},{mask},{mask}.telea.png"])):
                seconds, rss, code, output = run(command)
                if code:
                    raise SystemExit(f"{name} failed on {photo}: {output[-2000:]}")
                out = mask + (".ours.png" if name == "tfinpaint" else ".telea.png")
                row[name] = {"seconds": round(seconds, 2), "peak_rss_mb": round(rss),
                             "known_pixels_unchanged": unchanged(photo, hole, out)}
            row["time_ratio"] = round(row["tfinpaint"]["seconds"] / row["telea"]["seconds"], 2)
            rows.append(row)
            print(f"{row['photo']} {100 * row['share']:.1f}%: tfinpaint "
                  f"{row['tfinpaint']['seconds']:.1f} s {row['tfinpaint']['peak_rss_mb']} MB, "
                  f"telea {row['telea']['seconds']:.1f} s {row['telea']['peak_rss_mb']} MB",
                  flush=True)
        five = [it for it in items if abs(it[2] - 0.05) < 1e-9]
        if FLAGS.sample and five:
            photo, mask, _, hole = five[0]
            sample_figure(photo, hole, mask + ".ours.png", mask + ".telea.png", FLAGS.sample)
        # One folder run: start-up paid once.
        batch_in, batch_out = os.path.join(folder, "batch"), os.path.join(folder, "batch_out")
        os.makedirs(batch_in)
        masks_in = os.path.join(folder, "batch_masks")
        os.makedirs(masks_in)
        for photo, mask, share, _ in five:
            os.symlink(photo, os.path.join(batch_in, os.path.basename(photo)))
            os.symlink(mask, os.path.join(masks_in, os.path.basename(photo)))
        seconds, rss, code, output = run(tfinpaint + ["fill", batch_in, masks_in, "-o", batch_out,
                                                      f"--model={FLAGS.model}"])
        if code:
            raise SystemExit(f"folder run failed: {output[-2000:]}")
        folder_run = {"photos": len(five), "seconds": round(seconds, 2),
                      "seconds_per_photo": round(seconds / len(five), 2),
                      "peak_rss_mb": round(rss)}
    summary = {}
    for share in shares:
        these = [r for r in rows if r["target_share"] == share]
        summary[f"{int(share * 100)}%"] = {
            name: {"seconds": round(float(np.median([r[name]["seconds"] for r in these])), 2),
                   "peak_rss_mb": int(max(r[name]["peak_rss_mb"] for r in these))}
            for name in ("tfinpaint", "telea")}
    print(f"\n{'mask':>5} | {'tfinpaint s':>11} | {'peak MB':>7} | {'telea s':>7} | {'peak MB':>7}")
    for key, s in summary.items():
        print(f"{key:>5} | {s['tfinpaint']['seconds']:>11.1f} | {s['tfinpaint']['peak_rss_mb']:>7} "
              f"| {s['telea']['seconds']:>7.1f} | {s['telea']['peak_rss_mb']:>7}")
    print(f"folder run: {folder_run['photos']} photos, {folder_run['seconds_per_photo']} s each, "
          f"peak {folder_run['peak_rss_mb']} MB")
    result = {"command": common.command(), "machine": common.machine(),
              "date": time.strftime("%Y-%m-%d"), "rows": rows, "median": summary,
              "folder_run": folder_run,
              "all_known_pixels_unchanged": all(r[n]["known_pixels_unchanged"]
                                                for r in rows for n in ("tfinpaint", "telea"))}
    os.makedirs(os.path.dirname(FLAGS.out), exist_ok=True)
    with open(FLAGS.out, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print(f"wrote {FLAGS.out}")
    return 0


if __name__ == "__main__":
    app.run(main)
