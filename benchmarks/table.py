"""Prints a results JSON of benchmarks/quality.py as a Markdown table (for README.md).

    python benchmarks/table.py benchmarks/results/quality_cars.json
"""
import json
import sys

NAMES = {"mean": "mean colour", "telea": "OpenCV Telea", "ns": "OpenCV Navier-Stokes",
         "biharmonic": "scikit-image biharmonic"}


def main(path):
    with open(path) as f:
        result = json.load(f)
    training = result.get("training", {})
    print(f"<!-- {result['title']} -->")
    print("| method | hole PSNR | full PSNR | SSIM | hole L1 | ms/img | training |")
    print("|---|---|---|---|---|---|---|")
    for r in sorted(result["rows"], key=lambda r: -r["hole_psnr"]):
        t = training.get(r["method"])
        trained = f"{t['epochs']} epochs, {t['seconds_per_epoch']:.1f} s/epoch" if t else ""
        print(f"| {NAMES.get(r['method'], r['method'])} | {r['hole_psnr']:.2f} | {r['psnr']:.2f} | "
              f"{r['ssim']:.3f} | {r['hole_l1']:.4f} | {r['ms_per_image']:.2f} | {trained} |")


if __name__ == "__main__":
    for p in sys.argv[1:]:
        main(p)
