"""Shared estimator battery over every registered law (scikit-learn test_common style)."""

from __future__ import annotations

import json
import pickle
from typing import Any

import numpy as np
import pytest

from scaling import (
    COMPONENT_LAWS,
    LAWS,
    FitResult,
    NotFittedError,
    ScalingInputError,
    clone,
    fit_law,
    make_law,
    predict_law,
)
from scaling.selection import subset_points
from tests.scaling.scaling_cases import make_case

ALL = sorted(LAWS) + sorted(COMPONENT_LAWS)


def _fitted(name: str, seed: int = 0) -> tuple[Any, Any, np.ndarray]:
    x, y, opts, _ = make_case(name, seed)
    est = make_law(name, random_state=0, **opts)
    return est.fit(x, y), x, y


def test_registry_has_product_law_names() -> None:
    assert set(LAWS) == {
        "chinchilla",
        "densing",
        "observational",
        "passuntil",
        "icl_shots",
        "rectified_data",
        "joint_finetune",
    }
    assert not set(LAWS) & set(COMPONENT_LAWS)


@pytest.mark.parametrize("name", ALL)
def test_fit_returns_self_and_sets_fitted_attributes(name: str) -> None:
    x, y, opts, _ = make_case(name)
    est = make_law(name, random_state=0, **opts)
    assert not hasattr(est, "params_")
    assert est.fit(x, y) is est
    for attr in ("params_", "covariance_", "intervals_", "diagnostics_"):
        assert hasattr(est, attr)
    assert est.diagnostics_["success"] is True


@pytest.mark.parametrize("name", ALL)
def test_unfitted_predict_raises(name: str) -> None:
    x, _, opts, _ = make_case(name)
    est = make_law(name, **opts)
    with pytest.raises(NotFittedError):
        est.predict(x)
    with pytest.raises(NotFittedError):
        est.predict_interval(x)


@pytest.mark.parametrize("name", ALL)
def test_refit_forgets_previous_fit(name: str) -> None:
    x1, y1, opts, _ = make_case(name, seed=1)
    x2, y2, _, _ = make_case(name, seed=2)
    est = make_law(name, random_state=0, **opts).fit(x1, y1).fit(x2, y2)
    fresh = make_law(name, random_state=0, **opts).fit(x2, y2)
    assert est.params_.keys() == fresh.params_.keys()
    for k in est.params_:
        assert est.params_[k] == pytest.approx(fresh.params_[k], rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("name", ALL)
def test_params_round_trip_and_clone(name: str) -> None:
    _, _, opts, _ = make_case(name)
    est = make_law(name, random_state=3, n_restarts=2, **opts)
    params = est.get_params()
    assert params["random_state"] == 3 and params["n_restarts"] == 2
    twin = clone(est)
    assert twin.get_params() == params
    assert not hasattr(twin, "params_")
    est.set_params(f_scale=0.5)
    assert est.get_params()["f_scale"] == 0.5
    with pytest.raises(ScalingInputError) as err:
        est.set_params(no_such_option=1)
    assert err.value.field == "options.no_such_option"


@pytest.mark.parametrize("name", ALL)
def test_pickle_round_trip(name: str) -> None:
    est, x, _ = _fitted(name)
    back = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(back.predict(x), est.predict(x))
    assert back.params_ == est.params_


@pytest.mark.parametrize("name", ALL)
def test_nan_in_y_is_rejected_naming_the_point(name: str) -> None:
    x, y, opts, _ = make_case(name)
    y = np.array(y, dtype=float)
    y[2] = np.nan
    with pytest.raises(ScalingInputError) as err:
        make_law(name, **opts).fit(x, y)
    assert err.value.field == "points[2].y"
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize("name", ALL)
def test_inf_in_x_is_rejected(name: str) -> None:
    x, y, opts, _ = make_case(name)
    if isinstance(x, dict):
        key = next(iter(x))
        x = {k: np.array(v, dtype=float) for k, v in x.items()}
        x[key][1] = np.inf
    else:
        x = np.array(x, dtype=float)
        x[1] = np.inf
    with pytest.raises(ScalingInputError) as err:
        make_law(name, **opts).fit(x, y)
    assert err.value.field == "points[1].x"


@pytest.mark.parametrize("name", sorted(set(ALL) - {"densing_trend"}))
def test_too_few_points_message_gives_both_counts(name: str) -> None:
    x, y, opts, _ = make_case(name)
    est = make_law(name, **opts)
    n_params = len(est.fit(x, y).params_)
    idx = np.arange(n_params - 1)
    with pytest.raises(ScalingInputError) as err:
        make_law(name, **opts).fit(subset_points(x, idx), np.asarray(y)[idx])
    msg = str(err.value)
    assert f"at least {n_params}" in msg and f"got {n_params - 1} points" in msg


@pytest.mark.parametrize("name", ALL)
def test_all_zero_y_rejected(name: str) -> None:
    x, y, opts, _ = make_case(name)
    with pytest.raises(ScalingInputError):
        make_law(name, **opts).fit(x, np.zeros(len(y)))


@pytest.mark.parametrize("name", ALL)
def test_point_order_invariance(name: str) -> None:
    x, y, opts, _ = make_case(name)
    perm = np.random.default_rng(5).permutation(len(y))
    a = make_law(name, random_state=0, **opts).fit(x, y)
    b = make_law(name, random_state=0, **opts).fit(subset_points(x, perm), np.asarray(y)[perm])
    np.testing.assert_allclose(a.predict(x), b.predict(x), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", ALL)
def test_predict_interval_brackets_prediction(name: str) -> None:
    est, x, _ = _fitted(name)
    lo, hi = est.predict_interval(x, level=0.9)
    pred = est.predict(x)
    assert lo.shape == hi.shape == pred.shape
    assert est.diagnostics_["errorbars"] is True
    assert np.all(lo <= pred + 1e-12) and np.all(pred <= hi + 1e-12)
    lo5, hi5 = est.predict_interval(x, level=0.5)
    assert np.all(hi5 - lo5 <= hi - lo + 1e-12)
    with pytest.raises(ScalingInputError):
        est.predict_interval(x, level=1.5)


@pytest.mark.parametrize("name", ALL)
def test_fit_law_result_is_frozen_and_json_safe(name: str) -> None:
    x, y, opts, _ = make_case(name)
    res = fit_law(name, x, y, random_state=0, **opts)
    assert isinstance(res, FitResult)
    with pytest.raises(AttributeError):
        res.law = "other"  # type: ignore[misc]
    d = res.to_dict()
    json.dumps(d, allow_nan=False)
    for key in (
        "success",
        "message",
        "n_points",
        "n_params",
        "dof",
        "nfev",
        "cost",
        "rmse",
        "aic",
        "bic",
        "loss",
        "f_scale",
        "active_bounds",
        "errorbars",
        "correlated_pairs",
    ):
        assert key in res.diagnostics
    assert set(res.intervals) == set(res.params)
    text = res.report()
    assert "[[Fit Statistics]]" in text and "[[Variables]]" in text
    assert "[[Correlations]]" in text


@pytest.mark.parametrize("name", ALL)
def test_predict_law_matches_estimator(name: str) -> None:
    x, y, opts, _ = make_case(name)
    est = make_law(name, random_state=0, **opts).fit(x, y)
    pred_opts = {k: v for k, v in opts.items() if k in ("chance", "ceiling")}
    if name == "densing_trend":
        pred_opts = {}
    out = predict_law(name, est.params_, x, options=pred_opts)
    np.testing.assert_allclose(out.y, est.predict(x), rtol=1e-10)
    assert out.lower is None and out.upper is None
    cov = est.covariance_
    if np.all(np.isfinite(cov)):
        band = predict_law(name, est.params_, x, covariance=cov, options=pred_opts, level=0.9)
        assert band.lower is not None and band.upper is not None
        assert all(lo <= v + 1e-12 for lo, v in zip(band.lower, band.y, strict=False))


@pytest.mark.parametrize("name", ["chinchilla", "passuntil", "icl_shots"])
def test_bootstrap_intervals_are_seeded(name: str) -> None:
    x, y, opts, _ = make_case(name)
    a = make_law(name, random_state=7, n_bootstrap=30, **opts).fit(x, y)
    b = make_law(name, random_state=7, n_bootstrap=30, **opts).fit(x, y)
    assert a.diagnostics_["interval_method"] == "bootstrap"
    assert a.intervals_ == b.intervals_
    lo, hi = a.predict_interval(x)
    assert np.all(lo <= hi)


def test_unknown_law_and_bad_options() -> None:
    with pytest.raises(ScalingInputError) as err:
        fit_law("nope", [1, 2], [1, 2])
    assert err.value.field == "law"
    x, y, _, _ = make_case("chinchilla")
    with pytest.raises(ScalingInputError) as err:
        fit_law("chinchilla", x, y, loss="l3")
    assert err.value.field == "options.loss"
    with pytest.raises(ScalingInputError) as err:
        fit_law("chinchilla", x, y, colour="red")
    assert err.value.field == "options"
    with pytest.raises(ScalingInputError) as err:
        fit_law("chinchilla", x, y, fixed={"gamma": 1.0})
    assert err.value.field == "options.fixed"


def test_predict_law_rejects_bad_params() -> None:
    with pytest.raises(ScalingInputError) as err:
        predict_law("chinchilla", {"E": 1.0}, [[1e9, 1e10]])
    assert err.value.field.startswith("params.")
    with pytest.raises(ScalingInputError) as err:
        predict_law("passuntil", {"c": float("nan"), "alpha": 0.2}, [1e9])
    assert err.value.field == "params.c"


def test_robust_loss_resists_outlier() -> None:
    _x, y, _, _p = make_case("passuntil")
    y = np.array(y)
    plain = make_law("power_law", random_state=0)
    xs, ys, _, _ = make_case("power_law")
    ys = np.array(ys)
    ys[3] *= 3.0
    a = plain.fit(xs, ys).params_["alpha"]
    b = make_law("power_law", random_state=0, loss="soft_l1", f_scale=0.01).fit(xs, ys)
    assert abs(b.params_["alpha"] - 0.15) < abs(a - 0.15)


def test_non_convergence_is_a_result_not_an_exception() -> None:
    x, y, _, _ = make_case("chinchilla")
    res = fit_law("chinchilla", x, y, max_nfev=1, n_restarts=0)
    assert res.diagnostics["success"] is False
    assert res.diagnostics["message"]


def test_x_shapes_accepted_for_multi_input_law() -> None:
    x, y, _, _ = make_case("chinchilla")
    rows = np.column_stack([x["n_params"], x["n_tokens"]])
    dicts = [{"n_params": a, "n_tokens": b} for a, b in rows]
    r1 = fit_law("chinchilla", x, y, random_state=0).params
    r2 = fit_law("chinchilla", rows, y, random_state=0).params
    r3 = fit_law("chinchilla", dicts, y, random_state=0).params
    assert r1 == pytest.approx(r2) and r1 == pytest.approx(r3)
    with pytest.raises(ScalingInputError) as err:
        fit_law("chinchilla", [{"n_params": 1e9}] * 6, y[:6])
    assert err.value.field == "points[0].x"


def test_predict_law_interval_box_band() -> None:
    x, y, _, _ = make_case("passuntil")
    res = fit_law("passuntil", x, y)
    out = predict_law("passuntil", res.params, [2.4e9, 5e9], intervals=res.intervals)
    assert out.lower is not None and out.upper is not None
    assert all(lo <= v <= hi for lo, v, hi in zip(out.lower, out.y, out.upper, strict=True))
    json.dumps(out.to_dict())


def test_predict_outside_supported_range_raises() -> None:
    est = make_law("chinchilla").from_params({"E": 1.7, "A": 400.0, "B": 400.0, "alpha": 2.5, "beta": 0.3})
    with pytest.raises(ScalingInputError) as err:
        est.predict([[1e-300, 1e9]])  # N below range -> A/N^alpha overflows
    assert err.value.field == "x[0]"
