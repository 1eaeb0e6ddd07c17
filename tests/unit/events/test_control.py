"""Operator commands: the rebase record, and what a re-base does to a version's drift."""

from __future__ import annotations

import numpy as np
import pytest

from driftline.config import DriftConfig
from driftline.drift import DriftPhase, VersionDrift
from driftline.error import DecodeError
from driftline.estimators.reference import Reference
from driftline.events.control import RebaseCommand, decode_command


def test_a_command_round_trips_and_garbage_is_refused():
    command = RebaseCommand(model_id="m", reference=b"\x01\x02", reason="new normal", requested_at=5.0)
    assert decode_command(command.encode()) == command
    for raw in (b"", b"{}", b"\x81\xa7command\xa6delete", RebaseCommand(model_id="m", warmup_events=0).encode()):
        with pytest.raises(DecodeError):
            decode_command(raw)


def calibrated(rng: np.random.Generator) -> VersionDrift:
    drift = VersionDrift("m", "v", DriftConfig(warmup_events=500))
    drift.update({"x": rng.normal(size=600).tolist()}, None, None)
    drift.install(drift.calibrate())
    return drift


def test_a_rebase_from_the_next_events_forgets_statistics_and_detections():
    rng = np.random.default_rng(1)
    drift = calibrated(rng)
    drift.update({"x": (rng.normal(size=3000) + 2).tolist()}, None, None)
    assert drift.estimator is not None and drift.estimator.drift_detected
    drift.rebase(warmup_events=800)
    assert (drift.phase, drift.estimator, list(drift.detections())) == (DriftPhase.WARMING_UP, None, [])
    drift.update({"x": (rng.normal(size=900) + 2).tolist()}, None, None)
    assert drift.needs_calibration and drift.backlog_events == 100
    drift.install(drift.calibrate())
    drift.update({"x": (rng.normal(size=3000) + 2).tolist()}, None, None)
    assert not drift.estimator.drift_detected  # the shifted stream is the reference now
    assert drift.estimator.reference.features["x"].mean == pytest.approx(2.0, abs=0.2)


def test_a_rebase_to_a_given_reference_survives_a_snapshot_and_stale_calibrations_are_dropped():
    rng = np.random.default_rng(2)
    drift = calibrated(rng)
    stale_epoch = drift.epoch
    reference = Reference.from_columns({"x": (rng.normal(size=2000) + 5).tolist()})
    drift.rebase(reference)
    assert drift.phase is DriftPhase.CALIBRATING and drift.needs_calibration
    drift.install(drift.calibrate(), epoch=stale_epoch)  # a calibration started before the re-base
    assert drift.estimator is None and drift.phase is DriftPhase.CALIBRATING
    restored = VersionDrift.from_state("m", "v", DriftConfig(warmup_events=500), drift.to_state())
    assert restored.rebased and restored.reference_override == reference and restored.needs_calibration
    restored.install(restored.calibrate(), epoch=restored.epoch)
    assert restored.estimator is not None and restored.estimator.reference == reference
