"""Value codes: one integer per event that every per-column estimator reads.

A column's values are encoded once per batch and the code is shared by the window
statistics, the sequential detectors and the river adapters of that column.

Numeric values get their **mid-rank code** in the reference sample ``s`` (sorted, ``n``
values): ``code = searchsorted(s, x, "left") + searchsorted(s, x, "right")``, in
``[0, 2n]``; ``2n + 1`` is missing. Codes are monotone in ``x``: an even code ``2g`` is a
value strictly between ``s[g-1]`` and ``s[g]`` (``0``: below the reference range, ``2n``:
above), another code is a value equal to a reference value (ties included). The
probability-integral transform is ``u = (code + 1) / (2n + 2)``; it is uniform over the
gaps when the column has not drifted, whatever its distribution.

Categorical values get ``0..K-1`` for the reference's tracked categories, ``K`` for other
known categories, ``K+1`` for categories the reference never saw, ``K+2`` for missing.

>>> from driftline.estimators.reference import NumericReference
>>> enc = NumericEncoder(NumericReference.from_values([1.0, 2.0, 2.0, 3.0], bins=2))
>>> enc.encode([0.5, 1.0, 1.5, 2.0, 9.0, None]).tolist()
[0, 1, 2, 4, 8, 9]
>>> enc.bucket[enc.encode([0.5, 2.0, 9.0, None])].tolist()
[0, 1, 1, 2]
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Sequence

import numpy as np

from driftline.estimators.reference import (
    CategoricalReference, NumericReference, category_values, numeric_values,
)


def normal_quantile(p: np.ndarray) -> np.ndarray:
    """The standard normal quantile function (Acklam's rational approximation, |error| < 1.2e-9)."""
    a = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
         1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)
    b = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
         6.680131188771972e01, -1.328068155288572e01)
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
         -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
    p = np.asarray(p, dtype=np.float64)
    q = np.minimum(p, 1.0 - p)
    tail = np.sqrt(-2.0 * np.log(np.maximum(q, 1e-300)))
    z_tail = (((((c[0] * tail + c[1]) * tail + c[2]) * tail + c[3]) * tail + c[4]) * tail + c[5]) / (
        (((d[0] * tail + d[1]) * tail + d[2]) * tail + d[3]) * tail + 1.0)
    r = (p - 0.5) ** 2
    z_mid = (p - 0.5) * (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) / (
        ((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0)
    z = np.where(q < 0.02425, np.where(p < 0.5, z_tail, -z_tail), z_mid)
    return np.asarray(z)


class NumericEncoder:
    """Mid-rank codes of numeric values in a reference sample, and per-code lookup tables.

    Tables (indexed by code): ``bucket`` (reference bin, the last bin is missing), ``u`` (the
    probability-integral transform, NaN for missing), ``lower``/``upper`` (reference sample
    ranks just below and at the value, for an exact KS statistic), ``position`` (a
    representative value: the gap midpoint, clipped to the reference range), and ``null``
    (the no-change probability of each code).
    """

    def __init__(self, reference: NumericReference) -> None:
        self.reference = reference
        s = reference.sample
        n = self.size = s.size
        self.missing = 2 * n + 1
        self.codes = 2 * n + 2
        self._ties = bool(n > 1 and np.any(s[1:] == s[:-1]))
        uniq, first, count = np.unique(s, return_index=True, return_counts=True)
        value_code = 2 * first + count  # codes of values equal to a reference value
        gap_code = np.append(2 * first, 2 * n)  # codes of values between reference values
        self.lower = np.zeros(self.codes, dtype=np.int64)
        self.upper = np.zeros(self.codes, dtype=np.int64)
        self.position = np.zeros(self.codes)
        self.lower[gap_code] = self.upper[gap_code] = gap_code // 2
        self.lower[value_code], self.upper[value_code] = first, first + count
        mids = np.concatenate(([s[0]] if n else [], (uniq[:-1] + uniq[1:]) / 2, [s[-1]] if n else []))
        self.position[gap_code[: mids.size]] = mids
        self.position[value_code] = uniq
        self.valid = np.union1d(gap_code, value_code)  # the codes values can have
        below = np.concatenate(([-math.inf], uniq))  # the largest reference value <= a gap's values
        bins = np.zeros(self.codes, dtype=np.intp)
        bins[gap_code] = np.searchsorted(reference.edges, below, side="right")
        bins[value_code] = np.searchsorted(reference.edges, uniq, side="right")
        bins[self.missing] = reference.edges.size + 1
        self.bucket = bins
        self.u = (np.arange(self.codes) + 1.0) / (2 * n + 2)
        self.u[self.missing] = math.nan
        self.null = self._null(first, count, gap_code, value_code)

    def _null(self, first: np.ndarray, count: np.ndarray, gap_code: np.ndarray, value_code: np.ndarray) -> np.ndarray:
        """No-change code probabilities: a reference value seen once stands for the gaps
        around it (half each), a repeated value for itself; half a value more below and above."""
        n = self.size
        weight = np.zeros(self.codes)
        if n:
            single = count == 1
            weight[value_code[~single]] = count[~single]
            np.add.at(weight, gap_code[:-1][single], 0.5)
            np.add.at(weight, gap_code[1:][single], 0.5)
            weight[0] += 0.5
            weight[2 * n] += 0.5
            weight *= (1.0 - self.reference.missing_rate) / weight.sum()
        weight[self.missing] = self.reference.missing_rate if n else 1.0
        return weight

    def encode(self, values: Sequence[Any] | np.ndarray) -> np.ndarray:
        x = numeric_values(values)
        s = self.reference.sample
        if self.size == 0:
            return np.where(np.isnan(x), self.missing, 0).astype(np.intp)
        order = np.argsort(x)  # sorted keys make the binary searches about twice as fast
        left = np.empty(x.size, dtype=np.intp)
        left[order] = np.searchsorted(s, x[order], side="left")
        if self._ties:
            right = np.empty(x.size, dtype=np.intp)
            right[order] = np.searchsorted(s, x[order], side="right")
        else:
            right = left + (s[np.minimum(left, self.size - 1)] == x)
        code = left + right
        code[np.isnan(x)] = self.missing
        return code.astype(np.intp, copy=False)


class CategoricalEncoder:
    """Codes of categorical values; ``bucket`` merges other and new categories into one bucket."""

    def __init__(self, reference: CategoricalReference) -> None:
        self.reference = reference
        k = len(reference.categories)
        self.other, self.new, self.missing = k, k + 1, k + 2
        self.codes = k + 3
        self._lookup: dict[Any, int] = {name: i for i, name in enumerate(reference.categories)}
        self._lookup[None] = self.missing
        self._known = frozenset(reference.known)
        self.bucket = np.append(np.arange(k + 1), [k, k + 1]).astype(np.intp)
        probs = reference.probabilities
        self.null = np.concatenate((probs[:k], [probs[k], 0.0, probs[k + 1]]))

    def encode(self, values: Sequence[Any] | np.ndarray) -> np.ndarray:
        items = values.tolist() if isinstance(values, np.ndarray) else list(values)
        get = self._lookup.get
        codes = np.fromiter(map(get, items, itertools.repeat(-1)), dtype=np.intp, count=len(items))
        slow = np.flatnonzero(codes < 0)
        if slow.size:  # non-strings and categories not tracked: once per distinct value of the batch
            memo: dict[tuple[type, Any], int] = {}
            for i in slow.tolist():
                item = items[i]
                key = (type(item), item)
                code = memo.get(key)
                if code is None:
                    code = memo[key] = self._slow_code(item)
                codes[i] = code
        return codes

    def _slow_code(self, item: Any) -> int:
        (name,) = category_values([item])
        code = self._lookup.get(name, -1)
        return code if code >= 0 else self.other if name in self._known else self.new


Encoder = NumericEncoder | CategoricalEncoder


def encoder_for(reference: NumericReference | CategoricalReference) -> Encoder:
    return NumericEncoder(reference) if isinstance(reference, NumericReference) else CategoricalEncoder(reference)
