"""Best available accuracy per candidate: measured > probe (COSMOS) > prior.

* measured — a real run of the same candidate on the same task;
* probe — COSMOS predictors from cheap probes: the ICL shot law (Wang et al. 2025, arXiv:2505.01449,
  Eq. 5) from 0/1/8-shot probes, a fine-tuning data law (Lin et al. 2024, arXiv:2402.02314) from 2–4
  small fine-tunes, and the linear-probe proxy mapped by an affine calibration (COSMOS Sec. 4.2);
* prior — the learned regressor (:mod:`predictors.accuracy.prior`), or an uninformed [chance, 1]
  interval when too few measurements exist to train it.
"""

from __future__ import annotations

import functools
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from statistics import NormalDist
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from predictors.accuracy.demonstrations import run_draw_sd
from predictors.accuracy.features import (
    PROXY_METHODS,
    TRAINING_ANCHOR_METHODS,
    ZERO_SHOT_METHODS,
    Observation,
    chance_accuracy,
    observed_shots,
    sampling_variance,
)
from predictors.accuracy.phase import jump_probability, law_steps, learning_rate_scale, passes, phase_steps
from predictors.accuracy.prior import PriorPredictor
from predictors.accuracy.probe_level import corpus_probe_level
from predictors.errors import InvalidInputError
from predictors.methods import METHODS, parse_method
from scaling import RectifiedDataLaw, ShotCurveAverage

if TYPE_CHECKING:
    from predictors.accuracy.conformal import ConformalIntervals

__all__ = ["MAX_EVIDENCE_IDS", "Accuracy", "MeasurementIndex", "predict_accuracies"]

Tier = Literal["prior", "probe", "measured"]
INFERENCE_METHODS = frozenset(name for name, spec in METHODS.items() if spec.kind == "inference")
PRE_POWER_MIN_HALF_WIDTH = 0.05
"""Least half-width of each mixture component, and how far above the not-learned level a probe must be to
have learned when its test size is unknown: the proxy tier's half-width with only two calibration pairs."""
MAX_EVIDENCE_IDS = 16
"""Measurement ids a forecast names (the newest): enough for every tier's fit on one model, bounded so that a
2,000-row plan stays small; ``n_evidence`` counts them all."""


@dataclass(frozen=True, slots=True)
class Accuracy:
    """A forecast: mean and central interval (``level``), with the tier and predictor that made it;
    ``raw_interval`` is the predictor's own (lower, upper) when conformal calibration rescaled it, what a
    stored prediction keeps so the next calibration scores the predictor, not its own output.
    ``evidence`` names the stored measurements of the task the forecast was fitted on (the newest
    :data:`MAX_EVIDENCE_IDS`, oldest first), ``n_evidence`` counts every row it rests on (shipped corpus rows,
    which have no id, included): a plan version says which new evidence moved which forecast by them. The
    prior tier rests on the whole corpus and names none."""

    mean: float
    lower: float
    upper: float
    tier: Tier
    predictor: str
    level: float = 0.9
    raw_interval: tuple[float, float] | None = None
    evidence: tuple[str, ...] = ()
    n_evidence: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "mean": self.mean,
            "lower": self.lower,
            "upper": self.upper,
            "tier": self.tier,
            "predictor": self.predictor,
            "level": self.level,
            "evidence": list(self.evidence),
            "n_evidence": self.n_evidence,
        }


def _evidence(*groups: Iterable[Observation]) -> dict[str, Any]:
    """``evidence`` and ``n_evidence`` of a forecast fitted on the rows of ``groups`` (a row in several
    groups counts once), as :class:`Accuracy` keywords."""
    rows = list({id(row): row for group in groups for row in group}.values())
    ids = list(dict.fromkeys(row.measurement_id for row in rows if row.measurement_id))
    return {"evidence": tuple(ids[-MAX_EVIDENCE_IDS:]), "n_evidence": len(rows)}


def _method_key(method: Any) -> str:
    try:
        config = parse_method(dict(method))
        return json.dumps(config.model_dump(mode="json"), sort_keys=True)
    except (InvalidInputError, TypeError, ValueError):
        return json.dumps(method, sort_keys=True, default=str)


def _same(measured: float | None, wanted: float | None) -> bool:
    """A setting a measurement does not record (a paper that omits its epochs) matches any value."""
    return measured is None or wanted is None or measured == wanted


def _same_optimizer(measured: Observation, wanted: Observation) -> bool:
    """Same optimizer batch and learning rate, a value left unsaid by ``wanted`` being the default (a plan's
    candidate names no rate); one the measurement does not record matches any (as :func:`_same`)."""
    return (measured.sequences_per_step is None or law_steps(measured) == law_steps(wanted)) and (
        measured.learning_rate is None or learning_rate_scale(measured) == learning_rate_scale(wanted)
    )


def _clip(value: float) -> float:
    return float(min(max(value, 0.0), 1.0))


def _data_law_sampling_sd(
    rows_at: dict[float, list[Observation]], target: float, predicted_error: float
) -> float | None:
    """Sampling sd of an exact power-law fit's forecast, by the delta method in log-error space.

    Through the two probe sizes nearest the target (x_a < x_b), log e(x) = (1 − t)·log e_a + t·log e_b
    with t = log(x/x_a)/log(x_b/x_a), so Var log e(x) = (1 − t)²·Var e_a/e_a² + t²·Var e_b/e_b²:
    extrapolating far (t ≫ 1) magnifies the probes' own sampling error.
    """
    sizes = sorted(rows_at, key=lambda v: abs(math.log(v / target)))[:2]
    if len(sizes) < 2:
        return None
    x_a, x_b = sorted(sizes)
    variances = [sampling_variance(rows_at[x]) for x in (x_a, x_b)]
    errors = [1.0 - float(np.mean([float(r.accuracy or 0.0) for r in rows_at[x]])) for x in (x_a, x_b)]
    if any(v is None for v in variances) or min(errors) <= 0:
        return None
    t = math.log(target / x_a) / math.log(x_b / x_a)
    var_a, var_b = (float(v or 0.0) / e**2 for v, e in zip(variances, errors, strict=True))
    return predicted_error * math.sqrt((1 - t) ** 2 * var_a + t**2 * var_b)


def _widen(half_width: float, sd: float | None, level: float) -> float:
    """A half-width combined in quadrature with ``sd``'s normal quantile at ``level``."""
    if sd is None or sd <= 0:
        return half_width
    return math.hypot(half_width, NormalDist().inv_cdf(0.5 + level / 2) * sd)


FITTED_LAWS_KEPT = 256
"""Fitted probe-tier laws kept per kind in a process (LRU): a task's laws are refitted only when its probes change."""


@functools.lru_cache(maxsize=FITTED_LAWS_KEPT)
def fit_shot_curve(
    shots: tuple[float, ...], accuracy: tuple[float, ...], sd: tuple[float, ...], level: float, draw_sd: float
) -> ShotCurveAverage | None:
    """The shot law through these probes (None when it cannot be fitted), memoised on the probes' values:
    the fits are half a plan's CPU (BENCHMARKS.md, plan load), and equal inputs give an equal law."""
    try:
        curve = ShotCurveAverage(interval=level, draw_sd=draw_sd)
        return curve.fit(np.array(shots), np.array(accuracy), sigma=np.array(sd))
    except ValueError:
        return None


@functools.lru_cache(maxsize=FITTED_LAWS_KEPT)
def fit_data_law(
    train_examples: tuple[float, ...], error: tuple[float, ...], fixed: tuple[tuple[str, float], ...], level: float
) -> RectifiedDataLaw | None:
    """The rectified data law through these fine-tunes' errors (None when it cannot be fitted), memoised
    like :func:`fit_shot_curve` (the fit is seeded, so equal inputs give an equal law)."""
    try:
        return RectifiedDataLaw(fixed=dict(fixed), interval=level, random_state=0).fit(
            np.array(train_examples), np.array(error)
        )
    except (ValueError, TypeError):
        return None


class MeasurementIndex:
    """Measurements grouped for the tier look-ups (by model and task)."""

    def __init__(self, measurements: Sequence[Observation]) -> None:
        self.by_model_task: dict[tuple[str, str], list[Observation]] = defaultdict(list)
        self.by_task: dict[str, list[Observation]] = defaultdict(list)
        for m in measurements:
            if m.accuracy is None or not math.isfinite(m.accuracy):
                continue
            self.by_model_task[(m.model_id, m.task)].append(m)
            self.by_task[m.task].append(m)

    def anchors(self, candidate: Observation) -> list[Observation]:
        """This model's measured runs on the same task that fix the prior's level: runs of the same method
        (any configuration) when there are any; for a training method without such runs, the runs of the
        other training methods (not the linear probe, which the proxy tier reads), so the prior supplies
        the difference between methods and the runs the level."""
        name = candidate.method.get("name")
        rows = [m for m in self.by_model_task.get((candidate.model_id, candidate.task), []) if m.accuracy is not None]
        same = [m for m in rows if m.method.get("name") == name]
        if same or name in INFERENCE_METHODS:
            return same
        return [m for m in rows if m.method.get("name") in TRAINING_ANCHOR_METHODS]

    def measured(self, candidate: Observation, level: float) -> Accuracy | None:
        """The candidate's own runs: their mean, with an interval that holds both their spread and the
        binomial sampling error of their test sets at ``level`` (one run scored on 8 examples is 0.75
        within about ±0.25, not exactly 0.75; issue #14)."""
        key = _method_key(candidate.method)
        same = [
            m
            for m in self.by_model_task.get((candidate.model_id, candidate.task), [])
            if _method_key(m.method) == key
            and _same(m.data_fraction, candidate.data_fraction)
            and _same(m.epochs, candidate.epochs)
            and _same(m.train_examples, candidate.train_examples)
            and _same_optimizer(m, candidate)
            and observed_shots(m) == observed_shots(candidate)
        ]
        if not same:
            return None
        scored = [m for m in same if m.accuracy is not None]
        values = [float(m.accuracy or 0.0) for m in scored]
        sources = sorted({m.source for m in same if m.source})
        mean = float(np.mean(values))
        variance = sampling_variance(scored)
        half = _widen(0.0, math.sqrt(variance) if variance is not None else None, level)
        return Accuracy(
            mean=mean,
            lower=_clip(min(min(values), mean - half)),
            upper=_clip(max(max(values), mean + half)),
            tier="measured",
            predictor=f"measurement ({len(values)} run{'s' if len(values) > 1 else ''}: {', '.join(sources)[:200]})",
            **_evidence(same),
        )

    def icl_probe(self, candidate: Observation, level: float) -> Accuracy | None:
        """Shot curve through this model's own few-shot probes on this task: COSMOS's rising law (Eq. 5),
        flat or falling, weighted by the probes' evidence (:class:`scaling.ShotCurveAverage`)."""
        name = candidate.method.get("name")
        shots = observed_shots(candidate)
        if name not in INFERENCE_METHODS or shots is None:
            return None
        family = {*ZERO_SHOT_METHODS, name}
        rows_at: dict[int, list[Observation]] = defaultdict(list)
        for m in self.by_model_task.get((candidate.model_id, candidate.task), []):
            m_shots = observed_shots(m)
            if m.method.get("name") in family and m_shots is not None and m.accuracy is not None:
                rows_at[m_shots].append(m)
        if len(rows_at) < 3:
            return None
        x = np.array(sorted(rows_at), dtype=float)
        y = np.array([np.mean([float(r.accuracy or 0.0) for r in rows_at[int(d)]]) for d in x])
        sd = np.array([math.sqrt(sampling_variance(rows_at[int(d)]) or 0.0) for d in x])
        draw = run_draw_sd(str(name), candidate.task)
        curve = fit_shot_curve(tuple(x.tolist()), tuple(y.tolist()), tuple(sd.tolist()), level, draw)
        if curve is None:
            return None
        target = np.array([shots], dtype=float)
        mean = float(curve.predict(target)[0])
        lower, upper = (float(v[0]) for v in curve.predict_interval(target, level))
        weights = ", ".join(f"{form} {w:.2f}" for form, w in sorted(curve.weights_.items(), key=lambda i: -i[1]))
        predictor = f"icl_shots ({weights}; {len(x)} probes, demonstration draw sd {draw:.3f}" + (
            ", probe sampling error)" if sd.any() else ")"
        )
        evidence = _evidence(*rows_at.values())
        return Accuracy(
            _clip(mean), _clip(min(lower, mean)), _clip(max(upper, mean)), "probe", predictor, level, **evidence
        )

    def data_law(self, candidate: Observation, level: float) -> Accuracy | None:
        """A fine-tune from 2–4 small fine-tunes of the same method: the rectified data law once they have
        learned (:meth:`power_law`), the pre-power mixture while some have not (:meth:`pre_power`).

        The probes are grouped by learning-rate-scaled optimizer steps (:func:`phase_steps`): probes at
        other learning rates, epochs or batch sizes are other points of the phase, not repeats. A group has
        learned when it is above the not-learned level (:meth:`not_learned_level`) by more than the
        ``level`` half-width of their difference's sampling error (PRE_POWER_MIN_HALF_WIDTH when a probe
        does not say how many examples scored it): its error fell with steps beyond sampling error."""
        name = candidate.method.get("name")
        if name in INFERENCE_METHODS or candidate.train_examples is None:
            return None
        runs = [
            m
            for m in self.by_model_task.get((candidate.model_id, candidate.task), [])
            if m.method.get("name") == name and m.train_examples and m.accuracy is not None
        ]
        groups: dict[float, list[Observation]] = defaultdict(list)
        for m in runs:
            groups[float(phase_steps(m) or 0.0)].append(m)
        if len(groups) < 2:
            return None
        floor, floor_variance = self.not_learned_level(candidate)
        z = NormalDist().inv_cdf(0.5 + level / 2)

        def margin(variance: float | None) -> float:
            """How far above the not-learned level a run with this sampling variance must be to have learned."""
            return PRE_POWER_MIN_HALF_WIDTH if variance is None else z * math.sqrt(variance + floor_variance)

        def learned(rows: list[Observation]) -> bool:
            return float(np.mean([float(r.accuracy or 0.0) for r in rows])) - floor > margin(sampling_variance(rows))

        # The jump comes once: a probe at more steps than one that has learned and not above the level has
        # fallen back (more passes over the same data, or noise), not yet to jump (man-admin's own runs:
        # LoRA on 64 examples for 6 epochs, 0.55 at 48 steps, after 0.61 at 12 steps).
        first_learned = min((steps for steps, rows in groups.items() if learned(rows)), default=math.inf)
        before_jump = [steps for steps in groups if steps < first_learned]
        if not before_jump:
            return self.power_law(candidate, runs, level)
        last = max(before_jump)
        past = {steps: rows for steps, rows in groups.items() if steps > last}
        # the bound a run scored like the zero-shot probe must clear to count as learned
        learned_floor = min(floor + margin(floor_variance or None), 1.0)
        return self.pre_power(
            candidate, (groups[last], last), past, level, n_runs=len(runs), learned_floor=learned_floor
        )

    def not_learned_level(self, candidate: Observation) -> tuple[float, float]:
        """What a fine-tune that has not started learning scores, and that level's sampling variance: this
        model's zero-shot accuracy on the task where it was measured, never below chance."""
        chance = chance_accuracy(candidate.task_kind, candidate.n_choices)
        rows = [
            m
            for m in self.by_model_task.get((candidate.model_id, candidate.task), [])
            if m.method.get("name") in ZERO_SHOT_METHODS
        ]
        value = float(np.mean([float(r.accuracy or 0.0) for r in rows])) if rows else chance
        if value <= chance:
            return chance, 0.0
        return value, sampling_variance(rows) or 0.0

    def power_law(self, candidate: Observation, runs: Sequence[Observation], level: float) -> Accuracy | None:
        """Rectified data law on error = 1 − accuracy through fine-tunes that have learned, on the one-pass
        steps axis (:func:`law_steps`; examples when every run shares batch and rate).

        The law is fitted on the mean accuracy per size. When the runs at some size cover several epoch
        counts, the candidate's epoch count gets that size's offset from its mean (an additive model: data
        size sets the level, epochs move it, as COSMOS's HellaSwag runs show — more passes over the same
        data lower accuracy at every portion)."""
        target_x = law_steps(candidate)
        points: dict[float, list[float]] = defaultdict(list)
        rows_at: dict[float, list[Observation]] = defaultdict(list)
        by_epochs: dict[float, dict[float | None, list[float]]] = defaultdict(lambda: defaultdict(list))
        for m in runs:
            x_m = float(law_steps(m) or 0.0)
            points[x_m].append(float(m.accuracy or 0.0))
            rows_at[x_m].append(m)
            by_epochs[x_m][m.epochs].append(float(m.accuracy or 0.0))
        if len(points) < 2 or target_x is None:
            return None
        x = np.array(sorted(points))
        error = np.array([1.0 - np.mean(points[v]) for v in x])
        if np.any(error <= 0) or error[-1] >= error[0]:
            # Learned, but more data did not help between the smallest and the largest probe: saturated or
            # noise, and a power law through them would extrapolate a flat curve with false confidence.
            return None
        fixed = {"E": 0.0, "D_l": 0.0} if len(x) == 2 else ({"D_l": 0.0} if len(x) == 3 else {})
        law = fit_data_law(tuple(x.tolist()), tuple(error.tolist()), tuple(sorted(fixed.items())), level)
        if law is None:
            return None
        try:
            target = np.array([target_x])
            predicted_error = float(law.predict(target)[0])
            low_err, high_err = law.predict_interval(target, level)
        except (ValueError, TypeError):
            return None
        mean = 1.0 - predicted_error
        if not math.isfinite(mean):
            return None
        lower, upper = 1.0 - float(high_err[0]), 1.0 - float(low_err[0])
        predictor = f"rectified_data ({len(x)} fine-tunes)"
        sd = _data_law_sampling_sd(rows_at, target_x, predicted_error)
        if not (math.isfinite(lower) and math.isfinite(upper)):
            # An exact fit (as many probes as free parameters) has no residual to size an interval. Our own
            # rule: the whole predicted change from the nearest probe, at least 0.02 — two probes cannot
            # tell a power phase from a pre-power one (Lin et al. 2024), so the curve beyond them may be
            # flat or twice as steep. (It was half the change until the COSMOS HellaSwag and own-runs
            # benchmarks measured 83 % and 0 of 4 coverage for it: BENCHMARKS.md.)
            nearest = float(np.mean(points[float(x[np.argmin(np.abs(np.log(x / target_x)))])]))
            half_width = _widen(max(0.02, abs(mean - nearest)), sd, level)
            lower, upper = mean - half_width, mean + half_width
            predictor += ", exact fit: extrapolation band" + (" + probe sampling error" if sd else "")
        else:
            # As for the shot law: never narrower than the probes' own sampling error carried to the target.
            floor = _widen(0.0, sd, level)
            lower, upper = min(lower, mean - floor), max(upper, mean + floor)
        offsets = [
            float(np.mean(runs_at[candidate.epochs])) - float(np.mean(points[size]))
            for size, runs_at in by_epochs.items()
            if candidate.epochs is not None and candidate.epochs in runs_at and len(runs_at) > 1
        ]
        if offsets:
            shift = float(np.mean(offsets))
            mean, lower, upper = mean + shift, lower + shift, upper + shift
            predictor += f", epochs offset from {len(offsets)} size{'s' if len(offsets) > 1 else ''}"
        evidence = _evidence(*rows_at.values())
        return Accuracy(
            _clip(mean), _clip(min(lower, mean)), _clip(max(upper, mean)), "probe", predictor, level, **evidence
        )

    def pre_power(
        self,
        candidate: Observation,
        not_learned: tuple[list[Observation], float],
        past: dict[float, list[Observation]],
        level: float,
        *,
        n_runs: int,
        learned_floor: float = 0.0,
    ) -> Accuracy | None:
        """A fine-tune whose probes have not all left the pre-power phase: a mixture of "still not learned"
        (the not-learned probes with the most steps, ``not_learned``: rows and steps) and "learned"
        (:meth:`learned_level`), weighted by the chance that the candidate's steps are past the jump
        (:func:`jump_probability`). Its interval spans both until a probe past the jump (``past``) pins
        the jump below the candidate's steps; a candidate at no more steps than a probe that has not
        learned is forecast not learned. A probe that learned with more passes over its examples than the
        candidate makes does not pin it (our own runs: LoRA on 128 examples for one epoch, 16 steps, ended
        0.07-0.38 below three epochs on six of six tasks, and 0.20-0.27 below LoRA on 32 for three epochs,
        12 steps, where that had learned). None when nothing says what "learned" reaches."""
        flat_rows, flat_steps = not_learned
        target = float(phase_steps(candidate) or 0.0)
        pinned = [steps for steps, rows in past.items() if all(passes(r) <= passes(candidate) for r in rows)]
        p_learned = jump_probability(target, flat_steps, min(pinned) if pinned else None)
        flat = self._level(flat_rows, level)
        parts = [(1.0 - p_learned, flat.mean, flat.lower, flat.upper)] if p_learned < 1 else []
        used = [flat_rows]
        what = "not learned"
        if p_learned > 0:
            found = self.learned_level(candidate, flat_rows, past, target, level)
            if found is None:
                return None
            learned, learned_rows, what = found
            if learned.mean < learned_floor:  # "learned" means above the not-learned level (data_law's test)
                lift = learned_floor - learned.mean
                learned = Accuracy(learned_floor, learned.lower + lift, learned.upper + lift, "probe", "", level)
                what += f", raised to the not-learned level's {learned_floor:.2f} bound"
            parts.append((p_learned, learned.mean, learned.lower, learned.upper))
            used.append(learned_rows)
        mean = sum(weight * value for weight, value, _, _ in parts)
        lower, upper = min(part[2] for part in parts), max(part[3] for part in parts)
        predictor = (
            f"pre-power mixture ({p_learned:.2f} learned: {what}; {n_runs} fine-tunes, "
            f"not learned at {flat_steps:.3g} steps)"
        )
        evidence = _evidence(*used)
        return Accuracy(
            _clip(mean), _clip(min(lower, mean)), _clip(max(upper, mean)), "probe", predictor, level, **evidence
        )

    def learned_level(
        self,
        candidate: Observation,
        flat_rows: list[Observation],
        past: dict[float, list[Observation]],
        target: float,
        level: float,
    ) -> tuple[Accuracy, list[Observation], str] | None:
        """What the candidate reaches once it has learned, with the rows it rests on: the data law through
        the probes past the jump (two sizes or more); else the past-the-jump probe nearest in steps, whose
        one level gives no slope: the curve from it lies between flat (the level carried) and the power law
        through the jump (from the not-learned ``flat_rows``: steeper than the curve, as the jump is in it),
        an even mixture of the two spanning both; else this model's linear probe on the task (what its
        frozen features support, COSMOS Sec. 4.2). None when there is none of these."""
        rows = [m for group in past.values() for m in group]
        law = self.power_law(candidate, rows, level) if rows else None
        if law is not None:
            return law, rows, "data law past the jump"
        if past:
            nearest = past[min(past, key=lambda steps: abs(math.log(steps / max(target, 1e-12))))]
            carried = self._level(nearest, level)
            steep = self.power_law(candidate, [*flat_rows, *nearest], level)
            if steep is None:
                return carried, nearest, "probe past the jump, carried"
            mean = (carried.mean + steep.mean) / 2
            bounds = Accuracy(
                mean, min(carried.lower, steep.lower), max(carried.upper, steep.upper), "probe", "", level
            )
            return bounds, [*flat_rows, *nearest], "probe past the jump, flat or power"
        probes = [
            m
            for m in self.by_model_task.get((candidate.model_id, candidate.task), [])
            if m.method.get("name") in PROXY_METHODS
        ]
        if not probes or candidate.method.get("name") in PROXY_METHODS:
            return None
        return self._probe_level(candidate, probes, level)

    @staticmethod
    def _probe_level(
        candidate: Observation, probes: list[Observation], level: float
    ) -> tuple[Accuracy, list[Observation], str]:
        """The learned level from this model's linear probe, mapped by the affine calibration fitted across
        the corpus's other tasks (:mod:`predictors.accuracy.probe_level`); its half-width in quadrature with
        the probe's own sampling error through the slope. The probe's level as it is without such pairs."""
        calibration = corpus_probe_level(candidate.task, level, str(candidate.method.get("name")))
        raw = MeasurementIndex._level(probes, level)
        if calibration is None:
            return raw, probes, "linear-probe level"
        mean, _, _ = calibration.predict_interval([raw.mean])
        sampling = _widen(0.0, math.sqrt(sampling_variance(probes) or 0.0), level)
        half = max(PRE_POWER_MIN_HALF_WIDTH, math.hypot(calibration.half_width_, calibration.slope_ * sampling))
        value = float(mean[0])
        what = f"linear-probe level, calibrated on {calibration.n_pairs_} tasks"
        return Accuracy(value, value - half, value + half, "probe", "level", level), probes, what

    @staticmethod
    def _level(rows: list[Observation], level: float) -> Accuracy:
        """The rows' mean accuracy with their sampling error's ``level`` half-width, at least
        PRE_POWER_MIN_HALF_WIDTH (a mixture component)."""
        value = float(np.mean([float(r.accuracy or 0.0) for r in rows]))
        half = _widen(PRE_POWER_MIN_HALF_WIDTH, math.sqrt(sampling_variance(rows) or 0.0), level)
        return Accuracy(value, value - half, value + half, "probe", "level", level)

    def proxy(self, candidate: Observation, level: float) -> Accuracy | None:
        """COSMOS proxy: this model's linear-probe accuracy, mapped by a·π_proxy + b fitted on pairs
        (linear probe, real fine-tune of this method) measured on the same task."""
        name = candidate.method.get("name")
        if name in INFERENCE_METHODS or name in PROXY_METHODS:
            return None
        own_rows = [
            m
            for m in self.by_model_task.get((candidate.model_id, candidate.task), [])
            if m.method.get("name") in PROXY_METHODS
        ]
        own = [m.accuracy for m in own_rows]
        if not own:
            return None
        pairs: list[tuple[float, float]] = []
        pair_rows: list[Observation] = []
        for (model_id, _task), rows in self.by_model_task.items():
            if _task != candidate.task:
                continue
            probe_rows = [m for m in rows if m.method.get("name") in PROXY_METHODS and m.accuracy is not None]
            tuned_rows = [m for m in rows if m.method.get("name") == name and m.accuracy is not None]
            if probe_rows and tuned_rows and model_id != candidate.model_id:
                pairs.append(
                    (float(np.mean([m.accuracy for m in probe_rows])), float(np.mean([m.accuracy for m in tuned_rows])))
                )
                pair_rows += [*probe_rows, *tuned_rows]
        if len(pairs) < 2:
            return None
        px, py = np.array(pairs).T
        if np.ptp(px) < 1e-6:
            return None
        slope, intercept = np.polyfit(px, py, 1)
        residual = py - (slope * px + intercept)
        half_width = max(float(np.quantile(np.abs(residual), level)) if len(pairs) > 2 else 0.05, 0.02)
        mean = float(slope * float(np.mean([a for a in own if a is not None])) + intercept)
        return Accuracy(
            _clip(mean),
            _clip(mean - half_width),
            _clip(mean + half_width),
            "probe",
            f"linear-probe proxy, affine calibration on {len(pairs)} pairs",
            level,
            **_evidence(own_rows, pair_rows),
        )


RATE_RISK_SD_PER_E_FOLD = 0.07
"""Spread of a fine-tune's accuracy per e-fold of learning rate above its method's default, beyond the
default's forecast: our own runs at 3x LoRA's rate ended +0.15, +0.05, +0.02 and -0.13 from the default's
accuracy (fortune-theme, man-file, fortune-subject, man-admin; rms 0.10 per ln 3, of which 0.07 is two
60-80-example test sets' sampling error), so sqrt(0.10² - 0.07²) / ln 3 ≈ 0.07. Four pairs at one rate: a
first figure, not a fit."""


def _with_rate_risk(forecast: Accuracy, candidate: Observation, index: MeasurementIndex) -> Accuracy:
    """``forecast`` with its interval widened for a rate above the method's default that no run of the method
    here has tried. Past the default, accuracy against the rate is an inverted U whose peak default-rate
    probes cannot place (a higher rate reaches the jump sooner, :func:`phase_steps`, and may end lower), so
    the level stays the default's and the interval holds both outcomes (:data:`RATE_RISK_SD_PER_E_FOLD`)."""
    scale = learning_rate_scale(candidate)
    if forecast.tier == "measured" or scale <= 1 or not candidate.train_examples:
        return forecast
    name = candidate.method.get("name")
    runs = index.by_model_task.get((candidate.model_id, candidate.task), [])
    if any(m.method.get("name") == name and learning_rate_scale(m) * 1.2 >= scale for m in runs):
        return forecast
    sd = RATE_RISK_SD_PER_E_FOLD * math.log(scale)
    return replace(
        forecast,
        lower=_clip(forecast.mean - _widen(forecast.mean - forecast.lower, sd, forecast.level)),
        upper=_clip(forecast.mean + _widen(forecast.upper - forecast.mean, sd, forecast.level)),
        predictor=f"{forecast.predictor}; interval widened for a rate {scale:.3g}x the default, untried here",
    )


def predict_accuracies(
    candidates: Sequence[Observation],
    *,
    measurements: Sequence[Observation] = (),
    prior: PriorPredictor | None = None,
    level: float = 0.9,
    conformal: ConformalIntervals | None = None,
) -> list[Accuracy]:
    """The best available forecast per candidate, saying which tier and predictor made it; with
    ``conformal``, prior and probe intervals recalibrated from verified runs to cover ``level``.

    Candidates that differ only in what does not change accuracy (the hardware) share one forecast.
    """
    keys = [c.key() for c in candidates]
    first_of: dict[tuple[Any, ...], int] = {}
    for i, key in enumerate(keys):
        first_of.setdefault(key, i)
    unique = [candidates[i] for i in first_of.values()] if len(first_of) < len(candidates) else candidates
    predicted = _predict_unique(unique, measurements, prior, level)
    if conformal is not None:
        predicted = conformal.apply(predicted, level)
    if unique is candidates:
        return predicted
    forecasts = dict(zip(first_of, predicted, strict=True))
    return [forecasts[key] for key in keys]


def _predict_unique(
    candidates: Sequence[Observation],
    measurements: Sequence[Observation],
    prior: PriorPredictor | None,
    level: float,
) -> list[Accuracy]:
    index = MeasurementIndex(measurements)
    results: list[Accuracy | None] = []
    pending: list[int] = []
    for i, candidate in enumerate(candidates):
        found = (
            index.measured(candidate, level)
            or index.icl_probe(candidate, level)
            or index.data_law(candidate, level)
            or index.proxy(candidate, level)
        )
        results.append(found)
        if found is None:
            pending.append(i)
    if pending:
        subset = [candidates[i] for i in pending]
        if prior is not None:
            anchors = [index.anchors(candidate) for candidate in subset]
            anchor_rows = [a for group in anchors for a in group]
            mean, lower, upper = prior.predict_interval([*subset, *anchor_rows])
            anchor_offsets = np.array([float(a.accuracy or 0.0) for a in anchor_rows]) - mean[len(subset) :]
            start = 0
            for j, i in enumerate(pending):
                group = anchors[j]
                offsets = anchor_offsets[start : start + len(group)]
                start += len(group)
                if len(group):
                    # Prior anchored on this model's own runs of the same method on the same task: the prior
                    # gives the shape across configurations, the runs give the level (our own residual
                    # correction, as in regression-kriging).
                    shift = float(np.mean(offsets))
                    variance = sampling_variance(group)
                    sd = math.sqrt(variance) if variance else None
                    low_half = _widen(float(mean[j] - lower[j]), sd, prior.interval)
                    high_half = _widen(float(upper[j] - mean[j]), sd, prior.interval)
                    methods = sorted({str(a.method.get("name")) for a in group})
                    whose = (
                        "this method"
                        if methods == [subset[j].method.get("name")]
                        else f"other methods ({', '.join(methods)})"
                    )
                    results[i] = Accuracy(
                        _clip(mean[j] + shift),
                        _clip(mean[j] + shift - low_half),
                        _clip(mean[j] + shift + high_half),
                        "probe",
                        f"lightgbm prior anchored on {len(group)} run{'s' if len(group) > 1 else ''} of {whose}",
                        prior.interval,
                        **_evidence(group),
                    )
                else:
                    results[i] = Accuracy(
                        float(mean[j]),
                        float(lower[j]),
                        float(upper[j]),
                        "prior",
                        f"lightgbm prior ({prior.n_samples_} measurements)",
                        prior.interval,
                    )
        else:
            for i in pending:
                chance = chance_accuracy(candidates[i].task_kind, candidates[i].n_choices)
                results[i] = Accuracy((chance + 1) / 2, chance, 1.0, "prior", "uninformed (no measurements yet)", level)
    return [_with_rate_risk(r, c, index) for c, r in zip(candidates, results, strict=True) if r is not None]
