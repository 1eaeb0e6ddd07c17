"""The label join: out of order, duplicates, late and missing labels, caps, snapshots, accounting."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from driftline.events.join import Joined, LabelJoin, group_joined, label_delays

DAY = 86400.0


def add_predictions(join: LabelJoin, ids: list[str], ts: list[float], version: str = "v1") -> list[Joined]:
    return join.add_predictions(ids, ts, version, [float(i % 2) for i in range(len(ids))],
                                [0.5 + 0.01 * i for i in range(len(ids))])


def test_prediction_then_label_joins_and_records_the_delay():
    join = LabelJoin()
    assert add_predictions(join, ["a", "b"], [100.0, 101.0]) == []
    [joined] = join.add_labels(["b"], [1.0], [3700.0])
    assert joined == Joined("b", "v1", 1.0, 0.51, 1.0, 101.0, 3700.0, None)
    assert joined.delay == 3599.0 and label_delays([joined]).tolist() == [3599.0]
    assert join.pending == {"predictions": 1, "labels": 0} and join.counts["joined"] == 1


def test_label_before_its_prediction_waits_for_it():
    join = LabelJoin()
    assert join.add_labels(["x"], ["spam"], [50.0]) == []
    assert join.pending == {"predictions": 0, "labels": 1}
    [joined] = join.add_predictions(["x"], [60.0], "v2", ["spam"], [{"spam": 0.7, "ham": 0.3}], segments=["eu"])
    assert (joined.model_version, joined.label, joined.delay, joined.segment) == ("v2", "spam", -10.0, "eu")
    assert join.pending == {"predictions": 0, "labels": 0}


def test_out_of_order_streams_join_everything_exactly_once():
    rng = np.random.default_rng(0)
    n = 2000
    ids = [f"r{i}" for i in range(n)]
    ts = rng.permutation(n).astype(float)
    join = LabelJoin(ttl_seconds=DAY)
    joined = add_predictions(join, ids[:1000], ts[:1000].tolist())
    order = rng.permutation(n)
    for chunk in np.array_split(order, 13):
        joined += join.add_labels([ids[i] for i in chunk], [int(i) for i in chunk], ts[chunk] + 500.0)
    joined += add_predictions(join, ids[1000:], ts[1000:].tolist())
    assert sorted(j.request_id for j in joined) == sorted(ids)
    assert all(j.label == int(j.request_id[1:]) and j.delay == 500.0 for j in joined)
    assert join.pending == {"predictions": 0, "labels": 0} and join.counts["joined"] == n


def test_duplicates_are_ignored_and_counted():
    join = LabelJoin()
    add_predictions(join, ["a", "a", "b"], [1.0, 2.0, 3.0])  # second "a" while pending
    assert len(join.add_labels(["a", "a"], [1, 0], [10.0, 11.0])) == 1  # second label for a joined request
    add_predictions(join, ["a"], [12.0])  # a prediction for a joined request
    join.add_labels(["c", "c"], [1, 1], [13.0, 14.0])  # second label while the first is pending
    counts = join.counts
    assert (counts["duplicate_predictions"], counts["duplicate_labels"], counts["duplicates"]) == (2, 2, 4)
    assert join.pending == {"predictions": 1, "labels": 1}


def test_late_labels_and_never_arriving_labels_expire_in_event_time():
    join = LabelJoin(ttl_seconds=100.0)
    add_predictions(join, ["a", "b", "c"], [0.0, 50.0, 60.0])
    assert join.expire(watermark=100.0) == {"expired_predictions": 0, "expired_labels": 0}  # "a" waited 100 s: kept
    assert join.expire(watermark=101.0) == {"expired_predictions": 1, "expired_labels": 0}  # now > 100 s
    assert join.add_labels(["a"], [1], [154.0]) == []  # too late: "a" is gone, the label waits for nothing
    assert join.add_labels(["b"], [1], [180.0]) == []  # "b" still pending, but 130 s apart: both expire
    assert len(join.add_labels(["c"], [0], [160.0])) == 1
    assert join.expire(watermark=1e9) == {"expired_predictions": 0, "expired_labels": 1}
    counts = join.counts
    assert (counts["expired_predictions"], counts["expired_labels"], counts["joined"]) == (2, 2, 1)
    assert join.pending == {"predictions": 0, "labels": 0}


def test_the_cap_evicts_the_oldest_pending_items_in_event_time():
    join = LabelJoin(max_pending=3)
    add_predictions(join, ["a", "b"], [30.0, 10.0])
    join.add_labels(["x"], [1], [20.0])
    add_predictions(join, ["c", "d"], [40.0, 5.0])  # 5 items: "d" (5 s) and "b" (10 s) go
    assert join.pending == {"predictions": 2, "labels": 1}
    assert join.counts["evicted_predictions"] == 2 and join.counts["evicted"] == 2
    assert [j.request_id for j in join.add_labels(["a", "b", "c", "d"], [1, 1, 1, 1], [50.0] * 4)] == ["a", "c"]
    assert join.pending == {"predictions": 0, "labels": 3}  # "x", and the labels of evicted "b" and "d"
    join.add_labels(["y", "z"], [0, 0], [1.0, 2.0])  # older than all: they are the ones evicted
    assert join.counts["evicted_labels"] == 2 and join.pending["labels"] == 3


def test_forgotten_joins_let_a_later_duplicate_label_wait_and_expire():
    join = LabelJoin(ttl_seconds=100.0, max_joined=1)
    add_predictions(join, ["a", "b"], [0.0, 1.0])
    join.add_labels(["a", "b"], [1, 1], [2.0, 3.0])
    join.add_labels(["a", "b"], [1, 1], [4.0, 5.0])  # "a" forgotten (cap 1): pending; "b" remembered: duplicate
    assert join.pending["labels"] == 1 and join.counts["duplicate_labels"] == 1
    join.expire(1e6)
    assert join.counts["expired_labels"] == 1


def test_joined_requests_are_remembered_until_their_ttl():
    join = LabelJoin(ttl_seconds=100.0)
    add_predictions(join, ["a"], [0.0])
    join.add_labels(["a"], [1], [10.0])
    join.expire(watermark=150.0)
    assert join.add_labels(["a"], [0], [151.0]) == [] and join.pending["labels"] == 1  # no longer a duplicate


def test_versions_per_event_and_grouping_by_version_and_segment():
    join = LabelJoin()
    join.add_predictions(["a", "b", "c"], np.array([1.0, 2.0, 3.0]), ["v1", "v2", "v1"], [1, 0, 1], None,
                         segments=["eu", "eu", None])
    joined = join.add_labels(["c", "b", "a"], [1, 1, 0], [9.0, 9.0, 9.0])
    groups = group_joined(joined)
    assert {k: [j.request_id for j in v] for k, v in groups.items()} == {
        ("v1", None): ["c"], ("v2", "eu"): ["b"], ("v1", "eu"): ["a"]}
    assert joined[0].scores is None


def _stream(seed: int, n: int = 3000) -> list[tuple[str, list, list, list]]:
    """A random interleaving of prediction batches, label batches and expiries."""
    rng = np.random.default_rng(seed)
    ops = []
    for k in range(0, n, 100):
        ids = [f"r{i}" for i in range(k, k + 100)]
        ops.append(("p", ids, (np.arange(k, k + 100) + rng.normal(0, 5, 100)).tolist(), list(range(k, k + 100))))
        pick = rng.integers(0, k + 100, 60)  # labels for earlier requests, some twice, some never
        ops.append(("l", [f"r{i}" for i in pick], (pick + rng.lognormal(4, 1.5, 60)).tolist(), pick.tolist()))
        if k % 500 == 0:
            ops.append(("e", [], [float(k) + 50.0], []))
    return ops


def _run(join: LabelJoin, ops: list) -> list[tuple]:
    out = []
    for kind, ids, ts, values in ops:
        if kind == "p":
            out += join.add_predictions(ids, ts, "v1", values, None)
        elif kind == "l":
            out += join.add_labels(ids, values, ts)
        else:
            out.append(("expired", join.expire(ts[0])))
    return out


def _plain(state):
    """The snapshot through JSON (numpy arrays as lists): what a codec without pickle keeps."""
    return json.loads(json.dumps(state, default=lambda a: a.tolist()))


def test_state_round_trip_mid_stream_gives_the_same_joins():
    ops = _stream(1)
    make = lambda: LabelJoin(ttl_seconds=300.0, max_pending=400, max_joined=500)  # noqa: E731
    whole = make()
    expected = _run(whole, ops)
    for cut in (7, 30, 51):
        first = make()
        got = _run(first, ops[:cut])
        resumed = LabelJoin.from_state(_plain(first.to_state()))
        got += _run(resumed, ops[cut:])
        assert got == expected and resumed.counts == whole.counts and resumed.pending == whole.pending
    assert whole.counts["joined"] > 300 and whole.counts["evicted"] > 0 and whole.counts["expired"] > 0


def test_snapshot_is_columnar():
    join = LabelJoin()
    add_predictions(join, ["a", "b"], [1.0, 2.0])
    state = join.to_state()["state"]
    assert state["predictions"]["request_id"] == ["a", "b"] and state["predictions"]["versions"] == ["v1"]
    assert isinstance(state["predictions"]["ts"], np.ndarray) and state["predictions"]["version"].dtype == np.int32


operations = st.lists(st.tuples(
    st.sampled_from(["p", "l", "e"]),
    st.lists(st.tuples(st.integers(0, 15), st.floats(0.0, 200.0, allow_nan=False)), max_size=8),
), max_size=25)


@settings(max_examples=150, deadline=None)
@given(operations, st.integers(1, 12), st.integers(1, 12))
def test_every_input_is_accounted_for_and_joined_at_most_once(ops, max_pending, max_joined):
    join = LabelJoin(ttl_seconds=50.0, max_pending=max_pending, max_joined=max_joined)
    n_predictions = n_labels = 0
    joined: list[Joined] = []
    for kind, items in ops:
        ids = [f"r{i}" for i, _ in items]
        ts = [t for _, t in items]
        if kind == "p":
            joined += join.add_predictions(ids, ts, "v", list(range(n_predictions, n_predictions + len(ids))))
            n_predictions += len(ids)
        elif kind == "l":
            joined += join.add_labels(ids, list(range(n_labels, n_labels + len(ids))), ts)
            n_labels += len(ids)
        elif ts:
            join.expire(max(ts))
    c, pending = join.counts, join.pending
    assert len({j.label for j in joined}) == len(joined) == c["joined"]  # each label joined at most once
    assert len({j.prediction for j in joined}) == len(joined)  # and each prediction
    assert all(abs(j.label_ts - j.prediction_ts) <= 50.0 for j in joined)
    assert n_predictions == (c["joined"] + pending["predictions"] + c["expired_predictions"]
                             + c["duplicate_predictions"] + c["evicted_predictions"])
    assert n_labels == (c["joined"] + pending["labels"] + c["expired_labels"] + c["duplicate_labels"]
                        + c["evicted_labels"])
    assert pending["predictions"] + pending["labels"] <= max_pending


@settings(max_examples=100, deadline=None)
@given(operations, st.integers(0, 25), st.integers(1, 12))
def test_a_snapshot_anywhere_changes_nothing(ops, cut, max_pending):
    program = [(kind, [f"r{i}" for i, _ in items], [t for _, t in items], list(range(len(items))))
               for kind, items in ops]
    program = [(k, ids, ts if ts or k != "e" else [0.0], v) for k, ids, ts, v in program]
    make = lambda: LabelJoin(ttl_seconds=50.0, max_pending=max_pending, max_joined=5)  # noqa: E731
    whole = make()
    expected = _run(whole, program)
    first = make()
    got = _run(first, program[:cut])
    resumed = LabelJoin.from_state(_plain(first.to_state()))
    assert got + _run(resumed, program[cut:]) == expected
    assert resumed.counts == whole.counts and resumed.pending == whole.pending
