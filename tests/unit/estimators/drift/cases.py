"""Estimators of the drift package and data for the contract test (tests/unit/estimators/test_contract.py).

References and the model calibration are built once: the contract test makes many
estimators, and none of them should pay for a calibration.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from driftline.estimators.base import Estimator
from driftline.estimators.drift.adapter import RiverDetector
from driftline.estimators.drift.bucket import BucketCUSUM, design
from driftline.estimators.drift.categorical import CategoricalDrift
from driftline.estimators.drift.column import ColumnDrift
from driftline.estimators.drift.model import DriftOptions, ModelDrift, calibrate_model
from driftline.estimators.drift.multivariate import PCADrift, fit_pca
from driftline.estimators.drift.numeric import NumericDrift
from driftline.estimators.drift.rank import RankCUSUM
from driftline.estimators.drift.shrink import ShrinkCUSUM, shrink_design, shrinkable
from driftline.estimators.reference import CategoricalReference, NumericReference, Reference, ReferenceBuilder

Case = tuple[Callable[[], Estimator], Callable[[np.random.Generator, int], Any]]


@functools.cache
def numeric_reference() -> NumericReference:
    """Like the contract's numeric data, shifted, so that detectors fire on it."""
    rng = np.random.default_rng(100)
    values = rng.normal(2.6, 1.8, 3000)
    values[rng.random(3000) < 0.05] = np.nan
    return NumericReference.from_values(values, bins=6)


@functools.cache
def categorical_reference() -> CategoricalReference:
    """Lacks the contract data's "GB" (a new category) and tracks two categories only."""
    rng = np.random.default_rng(101)
    return CategoricalReference.from_values(rng.choice(np.array(["DE", "FR", "US", None], dtype=object), 2000,
                                                       p=[0.5, 0.3, 0.15, 0.05]), max_categories=2)


def matrix_data(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.normal(size=(n, 3))
    x[:, 1] = 0.5 * x[:, 0] + x[:, 1]
    x[rng.random((n, 3)) < 0.05] = np.nan
    return x


def row_data(rng: np.random.Generator, n: int) -> np.ndarray:
    rows = np.empty(n, dtype=[("x", "f8"), ("y", "f8"), ("c", "O")])
    rows["x"] = rng.normal(3.0, 2.0, n)
    rows["y"] = rows["x"] * 0.5 + rng.normal(size=n)
    rows["c"] = rng.choice(np.array(["DE", "FR", "US", "GB", None], dtype=object), n)
    return rows


@functools.cache
def model_reference() -> Reference:
    rows = row_data(np.random.default_rng(102), 3000)
    return Reference.from_columns({"x": rows["x"] + 0.3, "y": rows["y"], "c": rows["c"]},
                                  predictions=rows["c"], sample_size=2000)


@functools.cache
def model_calibration() -> dict[str, Any]:
    return calibrate_model(model_reference(), model_options())


def model_options() -> DriftOptions:
    return DriftOptions(budget_events=2e3, window_events=300, half_life_events=100.0,
                        detectors=("cusum", "adwin"), thresholds={"psi": 0.5})


def make_model() -> ModelDrift:
    return ModelDrift(model_reference(), model_options(), model_calibration())


def make_column(kind: str) -> ColumnDrift:
    ref: Any = numeric_reference() if kind == "numeric" else categorical_reference()
    rank = {"thresholds": {"cusum_up": 4.0, "cusum_down": 4.0, "cusum_scale_up": 4.0, "cusum_scale_down": 4.0},
            "allowance": 0.2}
    shrink = {"thresholds": [3.0] * len(shrinkable(ref)), "alternatives": shrink_design(ref)}
    return ColumnDrift(ref, rank, {"thresholds": [5.0] * ref.counts.size, "alternatives": design(ref)},
                       shrink if kind != "numeric" else None, window=200, half_life=50.0,
                       river={"page_hinkley": {}}, limits={"js": 0.3})


def cases(numeric_data: Callable[..., Any], categorical_data: Callable[..., Any]) -> dict[str, Case]:
    """The drift package's contract cases, given the contract's data generators."""
    num, cat = numeric_reference, categorical_reference
    return {
        "NumericDrift": (lambda: NumericDrift(num(), window=300, half_life=40.0), numeric_data),
        "CategoricalDrift": (lambda: CategoricalDrift(cat(), window=300, half_life=40.0), categorical_data),
        "RankCUSUM": (lambda: RankCUSUM(num(), {"cusum_up": 3.0, "cusum_down": 3.0, "cusum_scale_up": 2.0,
                                                "cusum_scale_down": 2.0}, 0.1), numeric_data),
        "BucketCUSUM[numeric]": (lambda: BucketCUSUM(num(), [3.0] * num().counts.size, design(num())), numeric_data),
        "BucketCUSUM[categorical]": (lambda: BucketCUSUM(cat(), [3.0] * cat().counts.size, design(cat())),
                                     categorical_data),
        "ShrinkCUSUM": (lambda: ShrinkCUSUM(cat(), [2.0, 2.0], shrink_design(cat(), 0.05)), categorical_data),
        "RiverDetector[adwin]": (lambda: RiverDetector(num(), "adwin", hold=50), numeric_data),
        "RiverDetector[page_hinkley]": (lambda: RiverDetector(cat(), "page_hinkley", {"threshold": 5.0}, 50),
                                        categorical_data),
        "RiverDetector[kswin]": (lambda: RiverDetector(num(), "kswin", {"window_size": 60, "stat_size": 20}, 50),
                                 numeric_data),
        "ColumnDrift[numeric]": (lambda: make_column("numeric"), numeric_data),
        "ColumnDrift[categorical]": (lambda: make_column("categorical"), categorical_data),
        "PCADrift": (lambda: PCADrift(fit_pca(matrix_data(np.random.default_rng(103), 2000) * 1.2, ["a", "b", "c"]),
                                      threshold=4.0, window=300), matrix_data),
        "ModelDrift": (make_model, row_data),
        "ReferenceBuilder": (lambda: ReferenceBuilder(size=700, bins=4), row_data),
    }
