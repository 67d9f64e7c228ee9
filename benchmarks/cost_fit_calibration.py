"""Refit the shipped default efficiency calibration from the measured H200 runs.

.venv/bin/python benchmarks/cost_fit_calibration.py   # writes predictors/cost/default_calibration.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.cost_measured import CALIBRATION_PATH, CSV_PATH, fit_calibration, load_rows


def main() -> int:
    if not CSV_PATH.exists():
        print(f"measured runs not found at {CSV_PATH}")
        return 1
    calibration = fit_calibration(load_rows())
    data = calibration.to_dict()
    data["source"] = "../shared/data/gpu_cost/h200_finetune_cost.csv (all rows) via benchmarks/cost_fit_calibration.py"
    CALIBRATION_PATH.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(data, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
