"""CUSUM arithmetic and alarm rule: the vectorised batch equals the plain recursion, bit for bit."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from driftline.estimators.drift.bucket import BucketCUSUM, design, llr_steps
from driftline.estimators.drift.cusum import TICKS, AlarmBank, cusum_path, segmented_cusum
from driftline.estimators.drift.rank import DETECTORS, RankCUSUM, rank_increments
from driftline.estimators.reference import CategoricalReference, NumericReference

ints = st.lists(st.integers(-50, 50), min_size=1, max_size=60)


def sequential(z: list[int], s0: int) -> list[int]:
    out, s = [], s0
    for step in z:
        s = max(0, s + step)
        out.append(s)
    return out


@given(ints, st.integers(0, 100))
def test_cusum_path_is_the_recursion(z, s0):
    assert cusum_path(np.array(z, dtype=np.int64), np.int64(s0)).tolist() == sequential(z, s0)


@given(st.lists(st.tuples(ints, st.integers(-60, 100)), min_size=1, max_size=6))
def test_segmented_cusum_runs_each_segment_on_its_own(segments):
    z = np.concatenate([np.array(seg, dtype=np.int64) for seg, _ in segments])
    lengths = np.array([len(seg) for seg, _ in segments])
    s0 = np.array([start for _, start in segments], dtype=np.int64)
    expected = [v for seg, start in segments for v in sequential(seg, start)]
    assert segmented_cusum(z, lengths, s0).tolist() == expected


class NaiveBank:
    """The alarm rule, one event at a time."""

    def __init__(self, h: np.ndarray) -> None:
        self.h, self.s = h, np.zeros(h.size, dtype=np.int64)
        self.armed, self.alarms, self.last = np.ones(h.size, bool), np.zeros(h.size, int), np.full(h.size, -1)
        self.t = 0

    def step(self, z: np.ndarray) -> None:
        self.s = np.maximum(0, self.s + z)
        fire = self.armed & (self.s >= self.h)
        self.alarms += fire
        self.last[fire] = self.t
        self.armed = (self.armed & ~fire) | (self.s == 0)
        self.t += 1

    def check(self, bank: AlarmBank) -> None:
        assert bank.statistic.tolist() == self.s.tolist()
        assert bank.alarms.tolist() == self.alarms.tolist() and bank.last_alarm.tolist() == self.last.tolist()
        assert bank.armed.tolist() == self.armed.tolist()
        assert bank.latched.tolist() == (~self.armed & (self.s >= self.h)).tolist()


def drifting(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(size=n // 2), rng.normal(0.4, 1.6, n - n // 2)])
    x[rng.random(n) < 0.05] = np.nan
    return x


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10**6), st.lists(st.integers(0, 3000), max_size=8))
def test_rank_cusum_batches_equal_the_recursion(seed, cuts):
    ref = NumericReference.from_values(np.random.default_rng(7).normal(size=1500))
    cusum = RankCUSUM(ref, dict(zip(DETECTORS, [3.0, 3.0, 2.0, 2.0])), allowance=0.15)
    x = drifting(seed, 3000)
    for part in np.split(x, sorted(cuts)):
        cusum.update_batch(part)
    naive = NaiveBank(cusum._bank.h)
    table = rank_increments(cusum._encoder, 0.15)
    for code in cusum._encoder.encode(x):
        naive.step(table[code])
    naive.check(cusum._bank)
    assert cusum.alarms > 2


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10**6), st.lists(st.integers(0, 3000), max_size=8))
def test_bucket_cusum_batches_equal_the_recursion(seed, cuts):
    rng = np.random.default_rng(seed)
    ref = CategoricalReference.from_values(rng.choice(["a", "b", "c", None], 2000, p=[0.6, 0.25, 0.1, 0.05]))
    x = np.concatenate([rng.choice(np.array(["a", "b", "c", "d", None], dtype=object), 3000, p=p)
                        for p in ([0.6, 0.25, 0.1, 0.0, 0.05], [0.4, 0.3, 0.1, 0.1, 0.1])])
    h = [2.5, 3.0, 3.5, 4.0, 2.0]
    cusum = BucketCUSUM(ref, h, design(ref))
    for part in np.split(x, sorted(cuts)):
        cusum.update_batch(part)
    a, c = llr_steps(ref, design(ref))
    naive = NaiveBank(cusum._bank.h)
    for bucket in cusum._encoder.bucket[cusum._encoder.encode(x)]:
        z = -c.copy()
        z[bucket] = a[bucket]
        naive.step(z)
    naive.check(cusum._bank)
    assert cusum.alarms > 2


def test_detected_from_the_alarm_until_below_the_threshold_without_new_alarms():
    bank = AlarmBank([5 * TICKS])
    path = np.array([6, 4, 7, 8, 3, 0, 5]) * TICKS
    bank.scan(0, path[:4], np.arange(4), 0)
    bank.statistic[:] = path[3]
    assert bank.alarms[0] == 1 and bank.latched[0]  # 6 alarms; 4 then 7: detected again, no second alarm
    bank.scan(0, path[4:], np.arange(3), 4)
    bank.statistic[:] = path[-1]
    assert bank.alarms[0] == 2 and bank.last_alarm[0] == 6  # back to 0 re-arms
    bank.reset()
    assert not bank.latched[0] and bank.armed[0] and bank.alarms[0] == 2


def test_reset_clears_detection():
    ref = NumericReference.from_values(np.random.default_rng(0).normal(size=1000))
    cusum = RankCUSUM(ref, {"cusum_up": 5.0}).update_batch(np.full(100, 3.0))
    assert cusum.drift_detected and cusum.drift_score > 1
    cusum.reset()
    assert not cusum.drift_detected and cusum.drift_score == 0.0 and cusum.alarms == 1
