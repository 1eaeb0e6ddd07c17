"""river detectors behind the column interface: the same detections as river itself, explicit state."""

from __future__ import annotations

import json

import numpy as np
import pytest
from river import drift

from driftline.estimators.drift.adapter import RiverDetector
from driftline.estimators.reference import CategoricalReference, NumericReference


@pytest.fixture(scope="module")
def stream() -> np.ndarray:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(size=2000), rng.normal(0.8, 1.0, 2000)])
    x[rng.random(x.size) < 0.05] = np.nan
    return x


@pytest.mark.parametrize(("method", "river", "params"), [
    ("adwin", drift.ADWIN, {}), ("page_hinkley", drift.PageHinkley, {"threshold": 20.0}),
    ("kswin", drift.KSWIN, {"window_size": 80, "stat_size": 20, "seed": 3}),
])
def test_detections_are_rivers_own_on_the_probability_integral_transform(stream, method, river, params):
    ref = NumericReference.from_values(np.random.default_rng(1).normal(size=2000))
    wrapped = RiverDetector(ref, method, params, hold=10)
    for part in np.array_split(stream[:2500], 5):
        wrapped.update_batch(part)
    snapshot = json.loads(json.dumps(wrapped.to_state(), default=lambda a: a.tolist()))  # plain data, no pickle
    restored = RiverDetector.from_state(snapshot)
    wrapped.update_batch(stream[2500:])
    restored.update_batch(stream[2500:])
    u = wrapped._inputs[wrapped._encoder.encode(stream)]
    plain, alarms = river(**params), []
    for i, value in enumerate(u.tolist()):
        if value == value:  # missing values are skipped
            plain.update(value)
            if plain.drift_detected:
                alarms.append(i)
    assert alarms and wrapped.alarms == restored.alarms == len(alarms)
    assert wrapped.last_alarm == restored.last_alarm == alarms[-1]
    assert wrapped.drift_detected == (stream.size - 1 - alarms[-1] < 10)


def test_categorical_input_is_the_reference_share_of_the_events_bucket():
    ref = CategoricalReference.from_values(["a"] * 90 + ["b"] * 10)
    detector = RiverDetector(ref, "page_hinkley", {"threshold": 3.0, "min_instances": 10})
    detector.update_batch(["a"] * 200 + ["b"] * 100)
    assert detector.alarms >= 1 and detector.last_alarm >= 200


def test_unknown_method():
    with pytest.raises(ValueError, match="unknown river detector"):
        RiverDetector(NumericReference.from_values([1.0, 2.0]), "ddm")
