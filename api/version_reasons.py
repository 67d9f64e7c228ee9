"""Why a re-predicted forecast moved (issue #12, item 6): the evidence it rests on that the version before's
did not, or, when none of its own evidence changed, the retrained prior.

A forecast names the measurements it was fitted on (``Accuracy.evidence``); a version compares the two
forecasts' names with the measurements that arrived since the version before (its trigger).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from api.candidates import method_label
from predictors.accuracy.features import make_observation
from storage.models import MeasurementRow

__all__ = ["MAX_NAMED", "VersionEvidence", "because", "measurement_brief"]

MAX_NAMED = 3
"""Measurements a reason's text names (the rest are counted); its ``measurements`` list has them all."""


def _train_examples(row: MeasurementRow, task_train_examples: int | None) -> int | None:
    """Examples a fine-tune measurement trained on, as the tiers read them; None for a method that does not train."""
    training = (row.candidate or {}).get("training")
    return make_observation(
        model_id=row.model_id,
        method={"name": row.method_name},
        task=row.task,
        training=training if isinstance(training, Mapping) else None,
        task_train_examples=task_train_examples,
    ).train_examples


def measurement_brief(row: MeasurementRow, *, task_train_examples: int | None, new: bool) -> dict[str, Any]:
    """A measurement as a reason names it: id, task, model, method, source, and ``setting`` in words
    (``lora r16 on 32 examples``, ``icl shots 8``); ``new`` when it arrived with this version."""
    candidate = dict(row.candidate or {})
    candidate.setdefault("method", {"name": row.method_name})
    n = _train_examples(row, task_train_examples)
    setting = method_label(candidate) + (f" on {n} examples" if n is not None else "")
    return {
        "id": row.id,
        "task": row.task,
        "model": row.model_id,
        "method": row.method_name,
        "source": row.source,
        "setting": setting,
        "new": new,
    }


@dataclass(frozen=True, slots=True)
class VersionEvidence:
    """What changed between two versions of a plan: the measurements added or edited since (``new``, by
    id), every measurement a reason may name (``rows``), how many of the new ones are of other tasks, and
    whether the prior (and its conformal calibration) was retrained in between."""

    new: Mapping[str, MeasurementRow]
    rows: Mapping[str, MeasurementRow]
    n_other_tasks: int
    prior_changed: bool
    task_train_examples: int | None = None


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"


def _named(briefs: Sequence[Mapping[str, Any]], noun: str) -> str:
    """``probe 3fa2… (icl shots 8, qwen2.5-0.5b)``, at most :data:`MAX_NAMED` of them, the rest counted."""
    shown = [f"{b['id']} ({b['setting']}, {b['model']}, {b['source']})" for b in briefs[:MAX_NAMED]]
    rest = len(briefs) - len(shown)
    head = noun if len(briefs) == 1 else noun + "s"
    return f"{head} " + "; ".join(shown) + (f" and {rest} more" if rest > 0 else "")


def _corpus(evidence: VersionEvidence) -> str:
    return f"{_plural(evidence.n_other_tasks, 'measurement')} of other tasks"


def because(before: Mapping[str, Any], after: Mapping[str, Any], evidence: VersionEvidence) -> dict[str, Any]:
    """Why a forecast moved from ``before`` to ``after`` (``Accuracy.as_dict`` forms): ``kind`` (evidence,
    prior, calibration or unexplained), ``text`` in words, the ``measurements`` behind it (briefs) and the
    evidence the old forecast had that the new one dropped."""
    old = set(before.get("evidence") or ())
    now = list(after.get("evidence") or ())
    moved_by = [i for i in now if i not in old or i in evidence.new]
    dropped = [i for i in before.get("evidence") or () if i not in set(now)]
    briefs = [
        measurement_brief(evidence.rows[i], task_train_examples=evidence.task_train_examples, new=i in evidence.new)
        for i in moved_by
        if i in evidence.rows
    ]
    predictor = str(after.get("predictor") or "")
    if briefs:
        noun = "a measured run of this candidate:" if after.get("tier") == "measured" else "probe"
        kind, text = "evidence", "because of " + _named(briefs, noun)
    elif evidence.prior_changed and "lightgbm prior" in predictor:
        anchored = " (anchored on the same runs)" if now else ""
        kind, text = "prior", f"prior retrained on a changed corpus ({_corpus(evidence)}){anchored}"
    elif evidence.prior_changed and "conformal" in predictor:
        kind = "calibration"
        text = f"same evidence; interval recalibrated with the retrained prior's conformal calibration ({_corpus(evidence)})"
    elif dropped:
        kind, text = (
            "evidence",
            f"{_plural(len(dropped), 'measurement')} it rested on no longer counted (deleted or edited)",
        )
    else:
        kind, text = "unexplained", "neither its evidence nor the prior changed"
    return {"kind": kind, "text": text, "measurements": briefs, "dropped": dropped}
