"""Does a challenger version differ from the champion beyond noise? Two small z-tests.

Accuracy-type metrics (a share of events: accuracy, or recall over the positives) compare
with a two-proportion z-test on the pooled proportion; mean-type metrics (MAE, bias, Brier,
log loss: means of a per-event loss) with a Welch z-test, given the per-event standard
deviations. Both are two-sided, normal approximations: fine for the window sizes a monitor
uses (hundreds of events and up), not for a handful. The sizes are the events behind each
value (``ModelQuality.counts["realized_window"]`` for accuracy; for precision the predicted
positives, for recall the positives).

>>> c = two_proportion_test(0.91, 2000, 0.88, 2000)
>>> round(c.z, 2), round(c.p_value, 4), c.significant
(-3.09, 0.002, True)
>>> two_proportion_test(0.91, 200, 0.90, 200).significant
False
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Comparison:
    """Challenger minus champion, its z statistic, two-sided p-value, and whether p < alpha."""

    champion: float
    challenger: float
    difference: float
    z: float
    p_value: float
    significant: bool


def _comparison(champion: float, challenger: float, se: float, alpha: float) -> Comparison:
    diff = challenger - champion
    if not se > 0:
        z = 0.0 if diff == 0 else math.copysign(math.inf, diff)
    else:
        z = diff / se
    p = math.erfc(abs(z) / math.sqrt(2.0))
    return Comparison(champion, challenger, diff, z, p, p < alpha)


def two_proportion_test(champion: float, n_champion: int, challenger: float, n_challenger: int,
                        alpha: float = 0.05) -> Comparison:
    """Two-proportion z-test of shares ``champion`` (of ``n_champion`` events) and ``challenger``."""
    if n_champion <= 0 or n_challenger <= 0:
        return Comparison(champion, challenger, challenger - champion, math.nan, math.nan, False)
    pooled = (champion * n_champion + challenger * n_challenger) / (n_champion + n_challenger)
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n_champion + 1.0 / n_challenger))
    return _comparison(champion, challenger, se, alpha)


def mean_difference_test(champion: float, std_champion: float, n_champion: int,
                         challenger: float, std_challenger: float, n_challenger: int,
                         alpha: float = 0.05) -> Comparison:
    """Welch z-test of two means of a per-event loss, given their standard deviations and sizes."""
    if n_champion <= 1 or n_challenger <= 1:
        return Comparison(champion, challenger, challenger - champion, math.nan, math.nan, False)
    se = math.sqrt(std_champion ** 2 / n_champion + std_challenger ** 2 / n_challenger)
    return _comparison(champion, challenger, se, alpha)
