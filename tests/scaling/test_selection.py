"""Held-out evaluation and form selection helpers."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from scaling import (
    IclShotLaw,
    PowerLaw,
    ScalingInputError,
    heldout_errors,
    heldout_split_error,
    select_form,
)
from tests.scaling.scaling_cases import make_case


def test_heldout_schemes() -> None:
    x, y, _, _ = make_case("power_law", n=12)
    law = PowerLaw(random_state=0)
    loo = heldout_errors(law, x, y, scheme="loo")
    kf = heldout_errors(law, x, y, scheme="kfold", n_folds=3)
    last = heldout_errors(law, x, y, scheme="last", n_last=3)
    assert loo.shape == (12,) and kf.shape == (12,) and last.shape == (3,)
    assert np.all(np.isfinite(loo)) and np.max(loo) < 1e-3
    assert not hasattr(law, "params_")  # the template is never fitted
    with pytest.raises(ScalingInputError):
        heldout_errors(law, x, y, scheme="bogus")


def test_heldout_split_error_reports_train_and_test() -> None:
    x, y, _, _ = make_case("power_law", n=20)
    order = np.argsort(x)
    tr, te = order[:15], order[15:]
    out = heldout_split_error(PowerLaw(random_state=0), x[tr], y[tr], x[te], y[te])
    assert set(out) == {"mse_train", "mse_test", "mae_test"}
    assert out["mse_test"] < 1e-3


def test_select_form_prefers_true_form_and_reports_inf_for_unfittable() -> None:
    d = np.array([0, 1, 2, 4, 8, 16, 32.0])
    y = 0.35 + 0.05 * np.log1p(d)
    cands = [IclShotLaw(form=f, random_state=0) for f in ("exponential", "power", "loglinear")]
    best, errs = select_form(cands, d, y)
    assert best == 2 and errs.shape == (3,)
    # with 3 points, leaving one out leaves too few for 3-parameter forms -> inf, not a crash
    best3, errs3 = select_form(cands, d[:3], y[:3])
    assert np.isinf(errs3[0]) and best3 == 2


def test_input_error_pickles_with_field() -> None:
    err = ScalingInputError("bad", field="points[3].y")
    back = pickle.loads(pickle.dumps(err))
    assert back.field == "points[3].y" and str(back) == "bad"
