"""Error-stream detectors: river's detectors wrapped, firing on an error-rate jump, quiet on a stable stream."""

from __future__ import annotations

import json

import numpy as np
import pytest

from driftline.estimators.performance.detector import DEFAULT_DETECTORS, DETECTORS, ErrorDetector

QUIET = ("hddm_a", "hddm_w", "adwin")


def jump(seed: int, before: int = 5000, after: int = 3000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.random(before) < 0.1, rng.random(after) < 0.3]).astype(float)


@pytest.mark.parametrize("name", sorted(DETECTORS))
@pytest.mark.parametrize("seed", [0, 1])
def test_fires_after_an_error_rate_jump(name, seed):
    detector = ErrorDetector(name, hold=10_000)
    detector.update_batch(jump(seed)[:5000])
    before = detector.alarms
    detector.update_batch(jump(seed)[5000:])
    assert detector.alarms > before and detector.last_alarm >= 5000 and detector.drift_detected


@pytest.mark.parametrize("name", QUIET)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_quiet_on_a_stable_stream(name, seed):
    stable = (np.random.default_rng(100 + seed).random(20_000) < 0.1).astype(float)
    detector = ErrorDetector(name).update_batch(stable)
    assert detector.alarms == 0 and not detector.drift_detected


def test_ddm_and_eddm_alarm_on_stable_streams_so_they_are_opt_in():
    stable = (np.random.default_rng(0).random(20_000) < 0.1).astype(float)
    assert ErrorDetector("eddm").update_batch(stable).alarms > 0
    assert set(DEFAULT_DETECTORS) <= set(QUIET)


def test_detection_is_held_for_hold_events_then_cleared():
    values = jump(3)
    detector = ErrorDetector("hddm_a", hold=100)
    i = 0
    while detector.alarms == 0:
        detector.update(values[i])
        i += 1
    detector.update_batch(values[i:i + 99])  # the alarm's event and 99 more: still reported
    assert detector.alarms == 1 and detector.drift_detected
    detector.update(values[i + 99])
    assert detector.alarms == 1 and not detector.drift_detected


def test_nan_values_are_skipped_but_counted():
    values = jump(4)
    with_gaps = values.copy()
    with_gaps[::10] = np.nan
    a = ErrorDetector("hddm_a").update_batch(with_gaps)
    assert a.events == values.size


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_state_round_trip_mid_stream_gives_the_same_detections(name):
    values = np.concatenate([jump(5), jump(6)])
    whole = ErrorDetector(name, hold=200).update_batch(values)
    first = ErrorDetector(name, hold=200).update_batch(values[:6000])
    snapshot = json.loads(json.dumps(first.to_state()))  # plain data: survives JSON, no pickle
    resumed = ErrorDetector.from_state(snapshot).update_batch(values[6000:])
    assert (resumed.alarms, resumed.last_alarm, resumed.drift_detected) == (whole.alarms, whole.last_alarm,
                                                                           whole.drift_detected)
    assert resumed.to_state() == whole.to_state()


def test_unknown_detector_is_an_error():
    with pytest.raises(ValueError, match="unknown error-stream detector"):
        ErrorDetector("page_hinkley")
