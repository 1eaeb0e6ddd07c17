"""The snapshot codec: exact round trips, no pickle, clear errors, old snapshots still load."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from driftline.error import StateError
from driftline.estimators.summary import CategoricalSummary, NumericSummary
from driftline.state.codec import decode_snapshot, encode_snapshot, register_migration

GOLDEN = Path(__file__).parent / "snapshots"

plain = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text() | st.binary(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
arrays = hnp.arrays(st.sampled_from([np.float64, np.float32, np.int64, np.int32, np.uint8, np.bool_]),
                    hnp.array_shapes(min_dims=0, max_dims=3, max_side=5))


@given(plain)
def test_plain_data_round_trips(value):
    assert decode_snapshot(encode_snapshot("t", value), "t") == value


@given(arrays)
def test_numpy_arrays_round_trip_with_dtype_and_shape(array):
    decoded = decode_snapshot(encode_snapshot("t", {"a": array}), "t")["a"]
    assert decoded.dtype == array.dtype and decoded.shape == array.shape
    assert np.array_equal(decoded, array, equal_nan=True)


def test_non_finite_floats_survive():
    state = decode_snapshot(encode_snapshot("t", [math.nan, math.inf, -math.inf]), "t")
    assert math.isnan(state[0]) and state[1:] == [math.inf, -math.inf]


def test_estimator_state_round_trips_exactly():
    summary = NumericSummary().update_batch(np.random.default_rng(1).normal(size=1000))
    restored = NumericSummary.from_state(decode_snapshot(encode_snapshot("s", summary.to_state()), "s"))
    assert restored._get_state() == summary._get_state()


@pytest.mark.parametrize("value", [object(), np.array(["a"], dtype=object), lambda: 0, Path(".")])
def test_arbitrary_objects_are_refused(value):
    with pytest.raises(StateError, match="cannot snapshot"):
        encode_snapshot("t", {"x": value})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\x80\x04\x95", "unreadable"),  # a pickle header is just garbage to us
        (b"", "unreadable"),
        (encode_snapshot("other", 1), "expected a t snapshot, got a other snapshot"),
    ],
)
def test_bad_snapshots_fail_with_a_clear_error(raw, message):
    with pytest.raises(StateError, match=message):
        decode_snapshot(raw, "t")


def test_a_tampered_array_is_refused():
    raw = bytearray(encode_snapshot("t", np.arange(4, dtype=np.int64)))
    with pytest.raises(StateError):
        decode_snapshot(bytes(raw[:-3]), "t")


def test_a_newer_snapshot_is_refused(monkeypatch):
    import driftline.state.codec as codec

    monkeypatch.setattr(codec, "VERSION", 2)
    newer = encode_snapshot("t", 1)
    monkeypatch.setattr(codec, "VERSION", 1)
    with pytest.raises(StateError, match="newer than this driftline"):
        decode_snapshot(newer, "t")


def test_old_snapshots_are_migrated(monkeypatch):
    import driftline.state.codec as codec

    old = encode_snapshot("migrating", {"n": 1})  # written by version 1
    monkeypatch.setattr(codec, "VERSION", 2)
    register_migration("migrating", 1, lambda state: {**state, "added_in_v2": True})
    assert decode_snapshot(old, "migrating") == {"n": 1, "added_in_v2": True}


def golden_state():
    rng = np.random.default_rng(7)
    numeric = NumericSummary().update_batch(rng.normal(3, 2, 500))
    categorical = CategoricalSummary(max_categories=3).update_batch(np.array(list("abcdab") + [None], dtype=object))
    return {"numeric": numeric.to_state(), "categorical": categorical.to_state(),
            "window": np.arange(10, dtype=np.int32), "rates": np.linspace(0, 1, 5)}


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.snapshot")), ids=lambda p: p.name)
def test_committed_snapshots_of_earlier_releases_still_load(path):
    """Snapshots written by earlier releases are committed; each must load and restore its estimators."""
    state = decode_snapshot(path.read_bytes(), "golden")
    expected = golden_state()
    assert NumericSummary.from_state(state["numeric"])._get_state() == NumericSummary.from_state(
        expected["numeric"])._get_state()
    assert CategoricalSummary.from_state(state["categorical"]).counts == {"a": 2, "b": 2, "c": 1}
    assert np.array_equal(state["window"], expected["window"])


def test_there_is_a_committed_snapshot_of_this_version():
    from driftline.state.codec import VERSION

    assert (GOLDEN / f"v{VERSION}.snapshot").exists(), "commit one: python -m tests.unit.state.test_codec"


if __name__ == "__main__":  # writes the golden snapshot of the current version
    from driftline.state.codec import VERSION

    GOLDEN.mkdir(exist_ok=True)
    (GOLDEN / f"v{VERSION}.snapshot").write_bytes(encode_snapshot("golden", golden_state()))
