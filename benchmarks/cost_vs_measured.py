"""Peak memory and step time of the cost model against the measured H200 runs.

    .venv/bin/python benchmarks/cost_vs_measured.py

Step time uses the efficiency calibration (t = max(GPU time, host launch time), see
predictors/cost/calibration.py) fitted leave-one-model-size-out (every row of the held-out size is
predicted by a calibration fitted on the other sizes). Memory is not fitted. The naive
estimate is what common calculators print: weights + gradients + Adam states (16 bytes per trained
parameter, the frozen weights at 2 bytes), no activations or logits.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.cost_measured import CSV_PATH, H200, fit_calibration, load_rows, predicted
from predictors.cost.memory import CUDA_CONTEXT_BYTES, FRAGMENTATION_FRACTION


def naive_bytes(row: dict[str, str]) -> float:
    total, trained = float(row["params_total"]), float(row["params_trainable"])
    if row["method"] == "full":
        return 16.0 * total
    if row["method"] in {"infer", "generate"}:
        return 2.0 * total
    if row["method"].startswith("lora"):
        return 2.0 * total + 16.0 * trained
    return 2.0 * (total - trained) + 16.0 * trained


def main() -> int:
    if not CSV_PATH.exists():
        print(f"measured runs not found at {CSV_PATH}")
        return 1
    rows = [r for r in load_rows() if r.get("oom") != "1"]
    sizes = sorted({r["model"] for r in rows})
    mem_err: dict[str, list[float]] = defaultdict(list)
    naive_err: dict[str, list[float]] = defaultdict(list)
    time_err: dict[str, list[float]] = defaultdict(list)
    verdicts_right = verdicts = 0
    # fits verdicts on smaller devices, taking the measured peak (+ CUDA context) as the truth
    devices = {"A100-40GB": 42949672960, "L40S": 48305799168, "H100-80GB": 85520809984}
    device_right = dict.fromkeys(devices, 0)
    print(
        f"{'model':11s} {'method':13s} {'shape':9s} gc  mem_meas_GB mem_pred_GB  err%  naive_err%  t_meas_s  t_pred_s  err%"
    )
    for held_out in sizes:
        calibration = fit_calibration([r for r in rows if r["model"] != held_out])
        for row in (r for r in rows if r["model"] == held_out):
            mem_pred, t_pred, fits = predicted(row, calibration)
            mem_meas, t_meas = float(row["peak_mem_bytes"]), float(row["step_s_median"])
            e_mem, e_naive, e_t = mem_pred / mem_meas - 1, naive_bytes(row) / mem_meas - 1, t_pred / t_meas - 1
            mem_err[row["method"]].append(abs(e_mem))
            naive_err[row["method"]].append(abs(e_naive))
            time_err[row["method"]].append(abs(e_t))
            verdicts += 1
            for device, capacity in devices.items():
                true_fit = mem_meas + CUDA_CONTEXT_BYTES <= capacity
                ours = mem_pred * (1 + FRAGMENTATION_FRACTION) + CUDA_CONTEXT_BYTES <= capacity
                device_right[device] += int(true_fit == ours)
            verdicts_right += int(
                fits == (row["oom"] != "1") and (mem_pred <= H200.memory_bytes) == (row["oom"] != "1")
            )
            print(
                f"{row['model']:11s} {row['method']:13s} {row['batch'] + 'x' + row['seq']:9s} {row['grad_ckpt']:2s} "
                f"{mem_meas / 1e9:11.2f} {mem_pred / 1e9:11.2f} {e_mem * 100:+6.1f} {e_naive * 100:+10.1f} "
                f"{t_meas:9.4f} {t_pred:9.4f} {e_t * 100:+6.1f}"
            )
    print()
    print(f"{'method':13s} rows  mem_MAPE%  naive_MAPE%  naive/ours  time_MAPE%(LOSO)")
    all_mem, all_naive, all_time = [], [], []
    for method in sorted(mem_err):
        m = 100 * sum(mem_err[method]) / len(mem_err[method])
        n = 100 * sum(naive_err[method]) / len(naive_err[method])
        t = 100 * sum(time_err[method]) / len(time_err[method])
        all_mem += mem_err[method]
        all_naive += naive_err[method]
        all_time += time_err[method]
        print(f"{method:13s} {len(mem_err[method]):4d} {m:10.1f} {n:12.1f} {n / m:10.1f} {t:12.1f}")
    m_all = 100 * sum(all_mem) / len(all_mem)
    n_all = 100 * sum(all_naive) / len(all_naive)
    print(
        f"{'ALL':13s} {len(all_mem):4d} {m_all:10.1f} {n_all:12.1f} {n_all / m_all:10.1f} {100 * sum(all_time) / len(all_time):12.1f}"
    )
    print(f"fits verdicts right on the H200: {verdicts_right}/{verdicts} (the CSV holds no OOM row)")
    for device, right in device_right.items():
        print(f"fits verdicts right on a {device} (truth: measured peak + CUDA context): {right}/{verdicts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
