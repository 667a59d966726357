#!/usr/bin/env bash
# Short trainings as a new user runs them, each from a clean folder, scored by the independent
# checker: `python -m tfinpaint.main --method=M --epochs=3` for ae_patch, ae and cvae_patch.
# Writes benchmarks/results/short_runs.json (command, checker's hole PSNR, seconds, machine).
#   bash benchmarks/short_runs.sh [METHOD ...]      (TFINPAINT_DATA_DIR: the shared data)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS_DIR:-runs/short}
mkdir -p "$(dirname "$runs")"
methods=("$@")
[ $# -gt 0 ] || methods=(ae_patch ae cvae_patch)
for m in "${methods[@]}"; do
  rm -rf "$runs/$m"
  command="python -m tfinpaint.main --method=$m --epochs=3 --model_dir=$runs/$m --classical="
  $command > "$runs.$m.log" 2>&1 || { echo "$m failed: see $runs.$m.log" >&2; exit 1; }
  python ../shared/check_export.py "$runs/$m/export/$m/1" | tail -1 > "$runs.$m.score"
  echo "$m: $(cat "$runs.$m.score") ($command)"
  echo "$command" > "$runs.$m.command"
done
python - "$runs" "${methods[@]}" <<'PY'
import json, re, sys
sys.path.insert(0, ".")
from benchmarks.common import machine
runs, methods = sys.argv[1], sys.argv[2:]
rows = []
for m in methods:
    log = open(f"{runs}.{m}.log").read()
    rows.append({"method": m, "command": open(f"{runs}.{m}.command").read().strip(),
                 "check_export_hole_psnr": float(open(f"{runs}.{m}.score").read().split("=")[1]),
                 "train_seconds": float(re.search(r"Trained \d+ epochs in ([\d.]+) s", log)[1])})
json.dump({"machine": machine(), "checker": "../shared/check_export.py", "biharmonic": 16.27,
           "rows": rows},
          open("benchmarks/results/short_runs.json", "w"), indent=1)
print("wrote benchmarks/results/short_runs.json")
PY
