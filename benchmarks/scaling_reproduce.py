# ruff: noqa: N806, N812 -- maths notation (N, K, P) and the harness alias R
"""Paper vs ours for every scaling-law reproduction (prints tables; not a test).

Data are read from ``<repo>/../shared/data`` (never copied into the repo).

Run: ``.venv/bin/python benchmarks/scaling_reproduce.py``
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scaling_repro_data as R

from scaling import (
    InstanceTaskScalingLaw,
    passuntil_estimate,
    passuntil_moments,
    simulate_passuntil,
)


def observational() -> None:
    print("== Observational scaling (Ruan et al. 2024): held-out MSE on the normalised target ==")
    print("   printed = released-notebook value (2 significant digits); ours = scaling/")
    rows = R.run_observational()
    print(
        f"{'experiment':<27} {'target':<46} {'predictor':<18} {'n tr/te':>8}  "
        f"{'printed train/test':>19}  {'ours train/test':>19}  match"
    )
    for r in rows:
        print(
            f"{r.experiment:<27} {r.target[:46]:<46} {r.predictor:<18} "
            f"{r.n_train:>3}/{r.n_test:<4}  {r.published_train:8.1e}/{r.published_test:<9.1e}  "
            f"{r.mse_train:8.1e}/{r.mse_test:<9.1e}  {_match_label(r)}"
        )
    n_ok = sum(r.matches() for r in rows)
    n_fp = sum(r.reproduced() and not r.matches() for r in rows)
    print(f"-> {n_ok}/{len(rows)} rows match the printed digits exactly on this machine", end="")
    print(f"; {n_fp} more reach them in refits on ulp-perturbed inputs (fp k/N)" if n_fp else "")
    if n_fp:
        print("   fp k/N: the small-sample L-BFGS-B fit (default tolerances, one start) stops at a")
        print("   rounding-dependent point of a flat valley; k of N refits with every benchmark score")
        print(f"   moved by <= {R.FP_JITTER_ULPS:g} ulps give the printed digits. Which rows need this varies")
        print("   with the CPU's BLAS kernels (the notebook's own value is one such draw).")
    print("\n   Rows with no printed value (emergent, full post-training; notebooks missing from the")
    print("   release): ours vs the research digest's clean-room re-implementation (test MSE)")
    rest = R.run_observational_unpublished()
    print(f"{'experiment':<14} {'target':<46} {'predictor':<18} {'n tr/te':>8}  {'digest':>9} {'ours':>9}")
    for r in rest:
        print(
            f"{r.experiment:<14} {r.target[:46]:<46} {r.predictor:<18} {r.n_train:>3}/{r.n_test:<4}  "
            f"{r.published_test:>9.3e} {r.mse_test:>9.3e}"
        )
    worst = max(abs(r.mse_test / r.published_test - 1) for r in rest)
    print(f"-> {len(rest)} rows, largest relative difference in test MSE {worst:.2%}")
    cs = R.run_capability_structure()
    evr = ", ".join(f"{100 * v:.1f}" for v in cs["explained_variance_ratio"])  # type: ignore[attr-defined]
    print(f"\n   Capability space, default set ({cs['n_models']} models, {cs['n_families']} families):")
    print(f"   variance explained by PC-1..5 (%): ours {evr}; digest 80.2, 11.9, 4.6, 1.4, 1.1; paper: top-3 ~97 %")
    load = ", ".join(f"{k} {v:.2f}" for k, v in cs["pc1_loadings"].items())  # type: ignore[attr-defined]
    print(f"   PC-1 loadings: {load}")
    r2 = cs["pc1_r2"]
    print("   PC-1 vs log10 FLOPs R² per family (>= 3 models; paper: > 0.9 for most):")
    print("   " + ", ".join(f"{k} {v:.3f}" for k, v in r2.items()))  # type: ignore[attr-defined]


def _match_label(r: R.ObsResult) -> str:
    if r.matches():
        return "yes"
    if r.reproduced():
        return f"fp {r.jitter_hits}/{r.jitter_refits}"
    return "NO"


def cosmos() -> None:
    print("\n== COSMOS ICL shot law (Wang et al. 2025, Eq. 5): HellaSwag, Llama 3 8B ==")
    print("   anchors: 0-shot 0.316 (inferred, not printed), 1-shot 0.526, 8-shot 0.620")
    print(f"{'shots':>5} {'paper pred':>11} {'ours':>9} {'|diff|':>8}")
    worst = 0.0
    for d, (paper, ours) in R.run_cosmos_icl().items():
        worst = max(worst, abs(paper - ours))
        print(f"{d:>5} {paper:>11.3f} {ours:>9.4f} {abs(paper - ours):>8.4f}")
    print(f"-> max |diff| = {worst:.4f} (tolerance 0.001)")


def passuntil() -> None:
    print("\n== PassUntil (Hu et al. 2024) ==")
    rows = list(csv.DictReader((R.DATA_DIR / "passuntil" / "table1_2p4b_prediction.csv").open()))
    he = next(r for r in rows if r["task"] == "HumanEval")
    real, pred = float(he["real_value"]), float(he["instance_level_fit"])
    print(
        f"HumanEval 2.4B (Table 1): actual {real:.5f}, paper's instance-level prediction "
        f"{pred:.5f}, deviation {abs(pred - real) / real:.3%} (paper: 0.05 %)"
    )
    print("  The smaller models' per-instance PassUntil values are not published, so the fit")
    print("  cannot be redone on the paper's data. Same pipeline on simulated data of that shape")
    print("  (164 items, sizes 0.03-1.5B, r = 50 sample-until-pass runs, predict 2.4B):")
    rng = np.random.default_rng(2)
    N = np.array([3e7, 1e8, 2e8, 5e8, 9e8, 1.5e9])
    c = rng.uniform(10, 60, 164)
    a = rng.uniform(0.12, 0.2, 164)
    P = np.exp(-c[None, :] * N[:, None] ** -a[None, :])
    s, K = simulate_passuntil(P.ravel(), r=50, random_state=3)
    est = passuntil_estimate(s[0], K[0], r=50).pass_probability.reshape(P.shape)
    truth = float(np.mean(np.exp(-c * 2.4e9**-a)))
    ours = float(InstanceTaskScalingLaw().fit(N, est).predict([2.4e9])[0])
    print(f"  simulated truth {truth:.5f}, ours {ours:.5f}, deviation {abs(ours - truth) / truth:.2%}")
    print("Estimator bias E[estimate]/p, exact sums vs 200,000 simulated runs (no cap):")
    print(
        f"{'p':>7} {'r':>2} {'theory r/K':>10} {'sim r/K':>8} {'theory (r-1)/(K-1)':>19} "
        f"{'sim':>6} {'theory sd/p':>11} {'sim sd/p':>8}"
    )
    for p, r in ((1e-2, 1), (1e-2, 2), (1e-3, 2), (1e-2, 5), (1e-3, 5)):
        s, K = simulate_passuntil(np.full(200_000, p), r=r, random_state=1)
        mle = passuntil_estimate(s[0], K[0], r=r, estimator="mle").pass_probability
        m_t, v_t = passuntil_moments(p, r=r)
        if r >= 2:
            ub = passuntil_estimate(s[0], K[0], r=r).pass_probability
            u_t = passuntil_moments(p, r=r, estimator="unbiased")[0]
            ub_s = f"{u_t / p:>19.3f} {ub.mean() / p:>6.3f}"
        else:
            ub_s = f"{'n/a (r = 1)':>19} {'':>6}"
        print(
            f"{p:>7.0e} {r:>2} {m_t / p:>10.3f} {mle.mean() / p:>8.3f} {ub_s} "
            f"{np.sqrt(v_t) / p:>11.3f} {mle.std() / p:>8.3f}"
        )
    print("Censoring at K_max = 1e5, P(fewer than r passes) (digest table: 0.37, 0.74, 0.05, 0.20):")
    for p, r in ((1e-5, 1), (1e-5, 2), (3e-5, 1), (3e-5, 2)):
        s, K = simulate_passuntil(np.full(50_000, p), r=r, k_max=100_000, random_state=4)
        cens = passuntil_estimate(s[0], K[0], r=r, k_max=100_000, estimator="mle").censored.mean()
        print(f"  p = {p:.0e}, r = {r}: {cens:.3f}")


def densing() -> None:
    print("\n== Densing law (Xiao et al. 2024, arXiv v2): what the shared tables allow ==")
    print(f"{'quantity':<62} {'paper':<45} ours")
    for r in R.run_densing():
        print(f"{r.quantity:<62} {r.paper:<45} {r.ours}")
    print("  Not reproducible from the shared data: per-model densities (Llama-1 < 0.1, Gemma-2-9B /")
    print("  MiniCPM-3-4B ~ 3) and the 29-model envelope fit — the paper publishes no per-model")
    print("  scores, losses, release dates or fitted constants.")


def main() -> None:
    if not R.data_available():
        print(f"shared data not found at {R.DATA_DIR}; nothing to reproduce")
        raise SystemExit(1)
    observational()
    cosmos()
    passuntil()
    densing()


if __name__ == "__main__":
    main()
