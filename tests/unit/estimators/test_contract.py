"""One contract test over every estimator (after river's ``check_estimator``).

Each entry gives a fresh estimator and a data generator; every estimator must
clone to an empty twin, round-trip its state exactly, be deterministic, and give
the same values for one batch as for the same values one by one.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pytest

from driftline.estimators.base import Estimator
from driftline.estimators.rate import DecayedRate
from driftline.estimators.summary import CategoricalSummary, NumericSummary
from tests.unit.estimators.drift.cases import cases as drift_cases
from tests.unit.estimators.performance.cases import cases as performance_cases


def numeric_data(rng: np.random.Generator, n: int) -> np.ndarray:
    values = rng.normal(3.0, 2.0, n)
    values[rng.random(n) < 0.1] = np.nan
    return values


def categorical_data(rng: np.random.Generator, n: int) -> np.ndarray:
    values = rng.choice(np.array(["DE", "FR", "US", "GB", None], dtype=object), n)
    return values


def event_times(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.cumsum(rng.exponential(0.01, n)) + 1_000.0


CASES: dict[str, tuple[Callable[[], Estimator], Callable[[np.random.Generator, int], np.ndarray]]] = {
    "NumericSummary": (NumericSummary, numeric_data),
    "CategoricalSummary": (lambda: CategoricalSummary(max_categories=10), categorical_data),
    "DecayedRate": (lambda: DecayedRate(tau_seconds=5.0), event_times),
    **drift_cases(numeric_data, categorical_data),
    **performance_cases(),
}


def observable(estimator: Estimator) -> dict[str, Any]:
    """Every public read-only property's value, and every scalar of the private state."""
    values = {}
    for name in dir(type(estimator)):
        if isinstance(getattr(type(estimator), name, None), property):
            values[name] = getattr(estimator, name)
    for name, value in estimator._get_state().items():
        if isinstance(value, (int, float, str, bool)):
            values[f"state.{name}"] = float(value) if isinstance(value, int) and not isinstance(value, bool) else value
        elif isinstance(value, dict):
            values[f"state.{name}"] = dict(value)
    return values


def same(a: dict[str, Any], b: dict[str, Any], rel: float = 0.0) -> bool:
    if a.keys() != b.keys():
        return False
    for key in a:
        x, y = a[key], b[key]
        if isinstance(x, float) and isinstance(y, float):
            if math.isnan(x) and math.isnan(y):
                continue
            if not math.isclose(x, y, rel_tol=rel, abs_tol=rel):
                return False
        elif x != y:
            return False
    return True


@pytest.fixture(params=sorted(CASES))
def case(request):
    return CASES[request.param]


def test_clone_has_the_parameters_and_none_of_the_state(case):
    make, data = case
    estimator = make().update_batch(data(np.random.default_rng(1), 500))
    clone = estimator.clone()
    assert type(clone) is type(estimator) and clone._get_params() == estimator._get_params()
    assert same(observable(clone), observable(make()))


def test_state_round_trip_is_exact(case):
    make, data = case
    estimator = make().update_batch(data(np.random.default_rng(2), 1000))
    restored = type(estimator).from_state(estimator.to_state())
    assert same(observable(restored), observable(estimator))
    more = data(np.random.default_rng(3), 300)
    assert same(observable(restored.update_batch(more)), observable(estimator.update_batch(more)))


def test_deterministic_under_a_seed(case):
    make, data = case
    a = make().update_batch(data(np.random.default_rng(4), 800))
    b = make().update_batch(data(np.random.default_rng(4), 800))
    assert same(observable(a), observable(b))


def test_batch_update_equals_one_by_one(case):
    make, data = case
    values = data(np.random.default_rng(5), 400)
    batched = make().update_batch(values)
    single = make()
    for value in values:
        single.update(value)
    assert same(observable(batched), observable(single), rel=1e-9)


def test_split_batches_equal_one_batch(case):
    make, data = case
    values = data(np.random.default_rng(6), 999)
    whole = make().update_batch(values)
    parts = make()
    for chunk in np.array_split(values, 7):
        parts.update_batch(chunk)
    assert same(observable(whole), observable(parts), rel=1e-9)


def test_empty_batch_changes_nothing(case):
    make, data = case
    estimator = make().update_batch(data(np.random.default_rng(7), 50))
    before = observable(estimator)
    assert same(observable(estimator.update_batch(data(np.random.default_rng(8), 0))), before)
