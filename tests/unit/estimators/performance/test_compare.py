"""Version comparison: two-proportion and Welch z-tests."""

from __future__ import annotations

import math

import numpy as np

from driftline.estimators.performance.compare import mean_difference_test, two_proportion_test


def test_two_proportion_test_by_formula_and_symmetry():
    c = two_proportion_test(0.80, 1000, 0.85, 1500)
    pooled = (800 + 1275) / 2500
    z = 0.05 / math.sqrt(pooled * (1 - pooled) * (1 / 1000 + 1 / 1500))
    assert math.isclose(c.z, z) and math.isclose(c.p_value, math.erfc(z / math.sqrt(2)))
    assert c.significant and math.isclose(c.difference, 0.05)
    back = two_proportion_test(0.85, 1500, 0.80, 1000)
    assert math.isclose(back.z, -c.z) and math.isclose(back.p_value, c.p_value)


def test_no_difference_and_degenerate_inputs():
    assert not two_proportion_test(0.9, 500, 0.9, 500).significant
    assert not two_proportion_test(0.9, 0, 0.5, 500).significant
    assert two_proportion_test(1.0, 100, 1.0, 100).p_value == 1.0
    assert two_proportion_test(1.0, 100, 0.0, 100).significant


def test_false_positive_rate_of_the_two_proportion_test_is_about_alpha():
    rng = np.random.default_rng(0)
    n, reps = 2000, 2000
    a, b = rng.binomial(n, 0.9, reps) / n, rng.binomial(n, 0.9, reps) / n
    rate = np.mean([two_proportion_test(x, n, y, n).significant for x, y in zip(a, b)])
    assert 0.03 < rate < 0.07


def test_mean_difference_test():
    c = mean_difference_test(1.0, 2.0, 400, 1.5, 2.0, 400)
    assert math.isclose(c.z, 0.5 / math.sqrt(8 / 400)) and c.significant
    assert not mean_difference_test(1.0, 2.0, 40, 1.1, 2.0, 40).significant
    assert not mean_difference_test(1.0, 2.0, 1, 1.1, 2.0, 40).significant
