"""Prints a results JSON of benchmarks/quality.py as a Markdown table (for README.md).

    python benchmarks/table.py benchmarks/results/quality_cars.json

Older files without the realism (`swd`) and `diversity` columns print "-" there.
"""
import json
import sys

NAMES = {"mean": "mean colour", "telea": "OpenCV Telea", "ns": "OpenCV Navier-Stokes",
         "biharmonic": "scikit-image biharmonic",
         "real (2nd sample)": "real images, 2nd sample (SWD noise floor)"}
COLUMNS = (("hole_psnr", ".2f"), ("psnr", ".2f"), ("ssim", ".3f"), ("hole_l1", ".4f"),
           ("swd", ".1f"), ("diversity", ".4f"), ("ms_per_image", ".2f"))


def cell(row, key, fmt):
    value = row.get(key)
    return "-" if value is None else format(value, fmt)


def main(path):
    with open(path) as f:
        result = json.load(f)
    training = result.get("training", {})
    print(f"<!-- {result['title']} -->")
    print("| method | hole PSNR | full PSNR | SSIM | hole L1 | SWD (lower is better) | diversity "
          "| ms/img | training |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = sorted(result["rows"], key=lambda r: (r.get("hole_psnr") is None,
                                                 -(r.get("hole_psnr") or 0.0)))
    for r in rows:
        t = training.get(r["method"])
        trained = f"{t['epochs']} epochs, {t['seconds_per_epoch']:.1f} s/epoch" if t else ""
        cells = " | ".join(cell(r, k, f) for k, f in COLUMNS)
        print(f"| {NAMES.get(r['method'], r['method'])} | {cells} | {trained} |")


if __name__ == "__main__":
    for p in sys.argv[1:]:
        main(p)
