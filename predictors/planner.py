"""Choosing among candidates: Pareto frontier, budgets, COSMOS bands, regret and which probe to buy next.

Pure numpy over arrays of per-candidate cost and accuracy intervals, so a plan over 100,000
candidates stays fast; the plans service feeds it the cost model's and the predictors' outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from predictors.errors import InvalidInputError

__all__ = [
    "BAND_NAMES",
    "COSMOS_EPSILON",
    "Budget",
    "BudgetPick",
    "CandidateScores",
    "Choice",
    "RunnerUp",
    "best_within",
    "budget_picks",
    "choose_by_weights",
    "choose_in_bands",
    "choose_under_budget",
    "cost_bands",
    "expected_regret",
    "pareto_frontier",
    "probability_best",
    "probe_value",
]

BAND_NAMES: tuple[str, str, str] = ("low", "medium", "high")
COSMOS_EPSILON = 1e-6
"""ε of the COSMOS band score s(π, c) = π − ε·c/c_max (Wang et al. 2025, arXiv:2505.01449, Sec. 3, Eq. 1)."""

_Z90 = 1.6448536269514722  # standard-normal quantile at 0.95: a 90 % interval is mean ± 1.645 σ


@dataclass(frozen=True, slots=True)
class CandidateScores:
    """Per-candidate arrays the planner works on (all of length n).

    ``accuracy_lower``/``accuracy_upper`` bound a central interval at ``interval_level``.
    """

    cost_usd: NDArray[np.float64]
    gpu_hours: NDArray[np.float64]
    accuracy_mean: NDArray[np.float64]
    accuracy_lower: NDArray[np.float64]
    accuracy_upper: NDArray[np.float64]
    interval_level: float = 0.9
    outcome_group: NDArray[np.intp] | None = None

    @classmethod
    def from_lists(
        cls,
        *,
        cost_usd: ArrayLike,
        accuracy_mean: ArrayLike,
        accuracy_lower: ArrayLike | None = None,
        accuracy_upper: ArrayLike | None = None,
        gpu_hours: ArrayLike | None = None,
        interval_level: float = 0.9,
        outcome_group: ArrayLike | None = None,
    ) -> CandidateScores:
        """``outcome_group``: candidates with the same group share one true accuracy (the same forecast:
        they differ only in what does not change accuracy, such as the hardware), so the Monte-Carlo
        estimates draw it once for all of them. Default: every candidate its own group."""
        cost = np.asarray(cost_usd, dtype=float)
        mean = np.asarray(accuracy_mean, dtype=float)
        n = cost.shape[0]
        if cost.ndim != 1 or mean.shape != (n,):
            raise InvalidInputError(
                "candidates", f"cost and accuracy need one value per candidate ({n} vs {mean.shape})"
            )
        if n == 0:
            raise InvalidInputError("candidates", "is empty: nothing to choose from")
        lower = mean if accuracy_lower is None else np.asarray(accuracy_lower, dtype=float)
        upper = mean if accuracy_upper is None else np.asarray(accuracy_upper, dtype=float)
        hours = np.zeros(n) if gpu_hours is None else np.asarray(gpu_hours, dtype=float)
        for name, values in (
            ("cost_usd", cost),
            ("accuracy", mean),
            ("accuracy_lower", lower),
            ("accuracy_upper", upper),
        ):
            if values.shape != (n,) or not np.all(np.isfinite(values)):
                raise InvalidInputError(f"candidates.{name}", "must be one finite number per candidate")
        if np.any(cost < 0):
            raise InvalidInputError("candidates.cost_usd", "must not be negative")
        if np.any(lower > mean + 1e-12) or np.any(upper < mean - 1e-12):
            raise InvalidInputError("candidates.accuracy", "each interval must contain its mean")
        if not 0 < interval_level < 1:
            raise InvalidInputError("interval_level", f"must be in (0, 1), got {interval_level}")
        groups = None
        if outcome_group is not None:
            groups = np.asarray(outcome_group, dtype=np.intp)
            if groups.shape != (n,):
                raise InvalidInputError("candidates.outcome_group", "must be one group id per candidate")
        return cls(cost, hours, mean, lower, upper, interval_level, groups)

    @property
    def n_candidates(self) -> int:
        return int(self.cost_usd.shape[0])

    @property
    def accuracy_sd(self) -> NDArray[np.float64]:
        """σ of a normal with the stated central interval (our reading of an interval as Gaussian)."""
        from scipy.stats import norm

        z = float(norm.ppf(0.5 + self.interval_level / 2)) if self.interval_level != 0.9 else _Z90
        return np.maximum((self.accuracy_upper - self.accuracy_lower) / (2 * z), 0.0)


@dataclass(frozen=True, slots=True)
class Choice:
    """The recommended candidate (its index), why, and the feasible set it was chosen from."""

    index: int
    reason: str
    feasible: NDArray[np.intp]
    band: str | None = None


def pareto_frontier(cost_usd: ArrayLike, accuracy: ArrayLike) -> NDArray[np.intp]:
    """Indices of the candidates no other candidate beats on both cost (lower) and accuracy (higher),
    sorted by cost. Ties in cost keep the most accurate; O(n log n)."""
    cost = np.asarray(cost_usd, dtype=float)
    acc = np.asarray(accuracy, dtype=float)
    order = np.lexsort((-acc, cost))  # by cost, then by accuracy descending
    return np.asarray(order[_beats_all_before(acc[order])], dtype=np.intp)  # more accurate than everything cheaper


def _beats_all_before(ranked: NDArray[np.float64]) -> NDArray[np.bool_]:
    best_before = np.fmax.accumulate(np.r_[-np.inf, ranked[:-1]]) if ranked.size else ranked
    return np.asarray(ranked > best_before, dtype=bool)


@dataclass(frozen=True, slots=True)
class Budget:
    """Hard limits on a candidate's total dollars and GPU-hours (None: no limit)."""

    max_usd: float | None = None
    max_gpu_hours: float | None = None

    def admits(self, cost_usd: ArrayLike, gpu_hours: ArrayLike) -> NDArray[np.bool_]:
        """Which candidates are within both limits."""
        cost, hours = np.asarray(cost_usd, dtype=float), np.asarray(gpu_hours, dtype=float)
        mask = np.ones(cost.shape[0], dtype=bool)
        if self.max_usd is not None:
            mask &= cost <= self.max_usd
        if self.max_gpu_hours is not None:
            mask &= hours <= self.max_gpu_hours
        return mask


def best_within(scores: CandidateScores, mask: NDArray[np.bool_]) -> int | None:
    """The budget rule, the one place it is written: among ``mask``, the highest predicted mean accuracy;
    ties go to the cheaper candidate, then to the earlier one. None when ``mask`` admits nothing."""
    members = np.flatnonzero(mask)
    if members.size == 0:
        return None
    order = np.lexsort((scores.cost_usd[members], -scores.accuracy_mean[members]))
    return int(members[order[0]])


@dataclass(frozen=True, slots=True)
class RunnerUp:
    """Within a :class:`BudgetPick`'s step, from a budget of ``from_usd`` on, the runner-up is ``index``."""

    from_usd: float
    index: int


@dataclass(frozen=True, slots=True)
class BudgetPick:
    """:func:`best_within` a dollar budget of at least ``from_usd`` (until the next pick's) is ``index``;
    ``runners_up`` is the rule over the other strategies in that range (the pick's margin is over it)."""

    from_usd: float
    index: int
    runners_up: tuple[RunnerUp, ...] = ()


def budget_picks(scores: CandidateScores, *, max_gpu_hours: float | None = None) -> list[BudgetPick]:
    """:func:`best_within` under every dollar budget at once, as a staircase rising with the budget: under
    ``max_usd = B`` the pick is the last step with ``from_usd <= B`` (none below the first). The steps are
    the Pareto frontier of the candidates within ``max_gpu_hours``, the picks of the rule as B grows. Each
    step carries its runner-up staircase: the rule over the candidates outside the pick's outcome group
    (not the same strategy on other hardware), so a client reads the pick and its margin without the rule."""
    members = np.flatnonzero(Budget(max_gpu_hours=max_gpu_hours).admits(scores.cost_usd, scores.gpu_hours))
    # the frontier's order (cost, accuracy descending, index), which is the rule's tie order too
    sweep = members[np.lexsort((-scores.accuracy_mean[members], scores.cost_usd[members]))]
    groups = scores.outcome_group if scores.outcome_group is not None else np.arange(scores.n_candidates)
    swept = _Sweep(scores.cost_usd[sweep], scores.accuracy_mean[sweep], groups[sweep])
    steps = np.flatnonzero(_beats_all_before(swept.accuracy_mean))  # positions of the Pareto frontier
    return [
        BudgetPick(float(swept.cost_usd[k]), int(sweep[k]), tuple(RunnerUp(usd, int(sweep[r])) for usd, r in found))
        for k, found in zip(steps, swept.runners_up(steps), strict=True)
    ]


@dataclass(frozen=True, slots=True)
class _Sweep:
    """The candidates in the budget rule's order: their cost, accuracy and outcome group."""

    cost_usd: NDArray[np.float64]
    accuracy_mean: NDArray[np.float64]
    group: NDArray[np.intp]

    def runners_up(self, steps: NDArray[np.intp]) -> list[list[tuple[float, int]]]:
        """For each step (a position of the frontier), (from_usd, position) of its runner-up under every
        budget from its cost to the next step's. Each position is read twice in all: the runner-up where a
        step starts is carried from the step before (its pick, or its runner-up when both picks share a group)."""
        cost, accuracy = self.cost_usd, self.accuracy_mean
        starts = np.searchsorted(cost, cost[steps], side="right")  # past the positions a step's budget admits
        ends = [*(int(np.searchsorted(cost, cost[k], side="left")) for k in steps[1:]), cost.size]
        runner = self._best_outside(0, int(starts[0]), int(self.group[steps[0]])) if steps.size else -1
        found = []
        for s, k in enumerate(steps):
            group = int(self.group[k])
            found.append(self._rises(float(cost[k]), int(starts[s]), ends[s], group, runner))
            if s + 1 < steps.size:  # the runner-up where the next step starts, outside the next pick's group
                after = int(self.group[steps[s + 1]])
                carried = int(k) if after != group else runner
                fresh = self._best_outside(int(starts[s]), int(starts[s + 1]), after)
                better = fresh >= 0 and (carried < 0 or accuracy[fresh] > accuracy[carried])
                runner = fresh if better else carried
        return found

    def _outside(self, start: int, end: int, group: int) -> NDArray[np.float64]:
        return np.where(self.group[start:end] != group, self.accuracy_mean[start:end], -np.inf)

    def _best_outside(self, start: int, end: int, group: int) -> int:
        """The rule's pick among positions ``start:end`` outside ``group`` (the earliest of the most
        accurate), or -1 when there is none."""
        accuracy = self._outside(start, end, group)
        return start + int(np.argmax(accuracy)) if accuracy.size and np.isfinite(accuracy.max()) else -1

    def _rises(self, from_usd: float, start: int, end: int, group: int, runner: int) -> list[tuple[float, int]]:
        """The runner-up outside ``group`` from ``from_usd`` (``runner``, -1 for none) while positions
        ``start:end`` join: each strict rise of the best accuracy is a new one, the earliest of equals as the
        rule breaks ties; of the rises at one cost the last counts (a budget admits them together)."""
        accuracy = self._outside(start, end, group)
        floor = self.accuracy_mean[runner] if runner >= 0 else -np.inf
        rises = start + np.flatnonzero(accuracy > np.maximum.accumulate(np.r_[floor, accuracy])[:-1])
        cost = self.cost_usd[rises]
        kept = rises[np.r_[cost[1:] != cost[:-1], True]] if rises.size else rises
        return ([(from_usd, runner)] if runner >= 0 else []) + [(float(self.cost_usd[r]), int(r)) for r in kept]


def choose_under_budget(
    scores: CandidateScores, *, max_usd: float | None = None, max_gpu_hours: float | None = None
) -> Choice | None:
    """The highest predicted accuracy within a hard budget; ties go to the cheaper candidate. None when the
    budget is below every candidate (a plan then says so and what the cheapest costs; it is not an error)."""
    mask = Budget(max_usd, max_gpu_hours).admits(scores.cost_usd, scores.gpu_hours)
    index = best_within(scores, mask)
    if index is None:
        return None
    return Choice(index=index, reason="highest predicted accuracy within the budget", feasible=np.flatnonzero(mask))


def cost_bands(cost_usd: ArrayLike) -> NDArray[np.intp]:
    """Band (0 low, 1 medium, 2 high) of each candidate: the [min, max] cost range cut into three equal
    parts (COSMOS Sec. 3, "Budget bands")."""
    cost = np.asarray(cost_usd, dtype=float)
    low, high = float(cost.min()), float(cost.max())
    if high <= low:
        return np.zeros(cost.shape[0], dtype=np.intp)
    edges = low + (high - low) * np.array([1 / 3, 2 / 3])
    return np.searchsorted(edges, cost, side="left").astype(np.intp)


def choose_in_bands(
    scores: CandidateScores, *, epsilon: float = COSMOS_EPSILON, bands: ArrayLike | None = None
) -> dict[str, Choice]:
    """Per band, argmax of π − ε·c/c_max with c_max the band's largest cost (COSMOS Eq. 1).

    ``bands`` (0/1/2 per candidate) defaults to :func:`cost_bands` of the candidates' costs.
    """
    bands = cost_bands(scores.cost_usd) if bands is None else np.asarray(bands, dtype=np.intp)
    choices: dict[str, Choice] = {}
    for band_index, name in enumerate(BAND_NAMES):
        members = np.flatnonzero(bands == band_index)
        if members.size == 0:
            continue
        c_max = float(scores.cost_usd[members].max()) or 1.0
        score = scores.accuracy_mean[members] - epsilon * scores.cost_usd[members] / c_max
        index = int(members[int(np.argmax(score))])
        choices[name] = Choice(
            index=index, reason=f"best π − ε·c/c_max in the {name} band", feasible=members, band=name
        )
    return choices


def choose_by_weights(
    scores: CandidateScores,
    *,
    accuracy_weight: float,
    cost_weight: float,
    max_usd: float | None = None,
    max_gpu_hours: float | None = None,
) -> Choice | None:
    """Maximise w_acc·π − w_cost·c/c_max over the candidates within the budget (user weights); None when
    the budget admits none."""
    if accuracy_weight < 0 or cost_weight < 0 or accuracy_weight + cost_weight == 0:
        raise InvalidInputError("objective.weights", "weights must be non-negative and not both zero")
    feasible = np.flatnonzero(Budget(max_usd, max_gpu_hours).admits(scores.cost_usd, scores.gpu_hours))
    if feasible.size == 0:
        return None
    c_max = float(scores.cost_usd[feasible].max()) or 1.0
    utility = accuracy_weight * scores.accuracy_mean[feasible] - cost_weight * scores.cost_usd[feasible] / c_max
    index = int(feasible[int(np.argmax(utility))])
    return Choice(index=index, reason="highest weighted utility within the budget", feasible=feasible)


def _posterior_draws(
    scores: CandidateScores, members: NDArray[np.intp], n_draws: int, seed: int
) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
    """(draws, column): ``draws[:, column[k]]`` is a draw of ``members[k]``'s accuracy. Members of one
    outcome group share a column, so candidates that differ only in hardware rise and fall together."""
    rng = np.random.default_rng(seed)
    if scores.outcome_group is None:
        representatives, column = members, np.arange(members.size, dtype=np.intp)
    else:
        _, first, inverse = np.unique(scores.outcome_group[members], return_index=True, return_inverse=True)
        representatives, column = members[first], inverse.astype(np.intp).reshape(-1)
    sd = scores.accuracy_sd[representatives]
    draws = scores.accuracy_mean[representatives] + sd * rng.standard_normal((n_draws, representatives.size))
    return draws, column


def _contenders(scores: CandidateScores, members: NDArray[np.intp], chosen: int) -> NDArray[np.intp]:
    """Members that could still beat the choice: mean + 4σ above the choice's mean − 4σ (a normal draw
    beyond 4σ has probability 3e-5, so the rest cannot change the estimates below at 2,000 draws)."""
    sd = scores.accuracy_sd
    floor = scores.accuracy_mean[chosen] - 4 * sd[chosen]
    keep = members[(scores.accuracy_mean[members] + 4 * sd[members] >= floor) | (members == chosen)]
    if keep.size > 5000:  # bounded work: the contenders with the highest upper bounds
        keep = keep[np.argsort(-scores.accuracy_upper[keep])[:5000]]
        keep = np.union1d(keep, [chosen]).astype(np.intp)
    return np.asarray(keep, dtype=np.intp)


def expected_regret(scores: CandidateScores, choice: Choice, *, n_draws: int = 2000, seed: int = 0) -> float:
    """E[max_j A_j − A_chosen] over the feasible set, reading each 90 % interval as an independent
    normal (our own Monte-Carlo estimate; 0 when every interval is a point)."""
    members = _contenders(scores, choice.feasible, choice.index)
    if members.size <= 1:
        return 0.0
    draws, column = _posterior_draws(scores, members, n_draws, seed)
    chosen_column = int(column[int(np.flatnonzero(members == choice.index)[0])])
    return float(np.mean(draws.max(axis=1) - draws[:, chosen_column]))


def probability_best(scores: CandidateScores, choice: Choice, *, n_draws: int = 2000, seed: int = 0) -> float:
    """P(the choice is the most accurate of the feasible set): the share of the same posterior draws as
    :func:`expected_regret` in which the choice's accuracy is the largest (1 when no other could beat it).
    Ties in a draw (twins of one outcome group) count for the choice."""
    members = _contenders(scores, choice.feasible, choice.index)
    if members.size <= 1:
        return 1.0
    draws, column = _posterior_draws(scores, members, n_draws, seed)
    chosen_column = int(column[int(np.flatnonzero(members == choice.index)[0])])
    return float(np.mean(draws[:, chosen_column] >= draws.max(axis=1)))


def probe_value(
    scores: CandidateScores,
    choice: Choice,
    *,
    top_k: int = 5,
    n_draws: int = 2000,
    seed: int = 0,
    probeable: NDArray[np.bool_] | None = None,
) -> list[tuple[int, float, float]]:
    """Which candidates' uncertainty most affects the choice: (index, P(beats the choice), expected gain).

    The expected gain E[max(A_j − A_chosen, 0)] is the value of learning candidate j exactly (a
    per-candidate expected value of perfect information); buy probes for the largest first. Only the
    candidates ``probeable`` marks (default: all) are ranked.
    """
    members = _contenders(scores, choice.feasible, choice.index)
    others = members[members != choice.index]
    if probeable is not None:
        others = others[probeable[others]]
    if others.size == 0:
        return []
    columns = np.concatenate([[choice.index], others]).astype(np.intp)
    draws, column = _posterior_draws(scores, columns, n_draws, seed)
    difference = draws - draws[:, column[:1]]
    gain = np.maximum(difference, 0.0).mean(axis=0)[column[1:]]
    beats = (difference > 0).mean(axis=0)[column[1:]]
    order = np.argsort(-gain, kind="stable")[:top_k]
    return [(int(others[i]), float(beats[i]), float(gain[i])) for i in order if gain[i] > 0]
