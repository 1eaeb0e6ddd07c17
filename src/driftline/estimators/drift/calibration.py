"""Thresholds of one-sided CUSUMs with a calibrated false-alarm rate.

Without drift, events are i.i.d. draws from the reference distribution, so a CUSUM's
increment ``z`` has a known distribution (:class:`Increments`: atoms and their
probabilities, from the reference). Its average run length to a false alarm at
threshold ``h`` (ARL) follows Siegmund's approximation::

    ARL(h) = (exp(theta * b) - theta * b - 1) / (theta * |mu|),   b = h + rho

where ``mu = E[z] < 0`` and ``theta > 0`` is the root of ``E[exp(theta * z)] = 1`` (the
adjustment coefficient: ``ln ARL`` grows exactly like ``theta * h``). ``theta`` and ``mu``
are computed exactly from the atoms. Only the overshoot correction ``rho`` is fitted, by
simulation: many replicate streams drawn from the reference are run in parallel with
numpy, their run lengths measured at thresholds where runs are short enough to observe,
and ``rho`` fitted to ``ln ARL`` by weighted least squares. The formula then extrapolates
to the target ``ERT`` (events between false alarms) of the statistic, which no
simulation could reach. Bernoulli CUSUMs (a jump ``+a`` on a rare event, ``-c``
otherwise) are simulated per rare event, drawing the geometric gaps between them.

**Reference uncertainty.** The reference is a sample: the production distribution differs
from it by sampling error, and a CUSUM tuned for small changes is very sensitive to that
(1 standard error of a bin's share can multiply its false-alarm rate by 10). With
``uncertainty=True`` the probabilities are redrawn from their posterior (Dirichlet over
groups of atoms with the reference's row count), ``theta`` and ``mu`` recomputed per
draw, and ``h`` chosen so that the false-alarm rate *averaged over the draws* meets the
target: the budget then holds in expectation over the reference sample too, and a larger
reference buys smaller thresholds. Everything is deterministic under the given seed.

>>> inc = Increments(np.array([0.5, -0.5]), np.array([0.4, 0.6]))
>>> cal = calibrate(inc, 1e5, np.random.default_rng(0), uncertainty=False)
>>> round(cal.theta, 4), 9 < cal.threshold < 12
(0.8109, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

REPLICATES = 128  # parallel simulated streams
STEPS = 4096  # steps (events, or rare events for Bernoulli CUSUMs) per stream
DRAWS = 512  # posterior draws of the reference probabilities
GROUPS = 64  # atoms are grouped by value for the posterior draws


@dataclass(frozen=True)
class Increments:
    """The no-change distribution of a CUSUM increment.

    ``rows``: reference rows behind ``probs`` (``inf``: exact). ``bernoulli``: two atoms
    ``[a, -c]``, ``a`` with probability ``probs[0]`` (simulated by gaps between ``a``'s).
    """

    values: np.ndarray
    probs: np.ndarray
    rows: float = math.inf
    bernoulli: bool = False

    @property
    def mean(self) -> float:
        return float(self.probs @ self.values)

    @property
    def var(self) -> float:
        return float(self.probs @ self.values**2 - self.mean**2)


@dataclass(frozen=True)
class Calibration:
    """A calibrated threshold and how it was obtained (``nominal``: without reference uncertainty)."""

    threshold: float
    ert: float
    theta: float
    mu: float
    rho: float
    nominal: float

    def arl(self, h: float) -> float:
        """Siegmund's predicted ARL at threshold ``h`` (no reference uncertainty)."""
        return float(np.exp(log_arl(h, np.array([self.theta]), np.array([self.mu]), np.array([1.0]), self.rho))[0])


def adjustment_coefficient(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``theta`` with ``sum(w * exp(theta * v)) = 1`` per row of ``weights``, the sign opposite to the mean."""
    w = np.atleast_2d(weights)
    mu = w @ values
    sign = np.where(mu < 0, 1.0, -1.0)
    v = values[None, :] * sign[:, None]
    if not np.all(v.max(axis=1) > 0):
        return np.where(v.max(axis=1) > 0, 0.0, np.inf)  # no positive increment: never alarms
    lam = np.maximum(2 * np.abs(mu) / np.maximum(w @ values**2, 1e-300), 1e-9)
    for _ in range(200):  # expand until right of the root (psi > 0)
        low = (w * np.exp(np.minimum(lam[:, None] * v, 700))).sum(axis=1) <= 1
        if not low.any():
            break
        lam[low] *= 1.5
    for _ in range(100):  # Newton from the right converges monotonically (psi is convex)
        e = np.exp(np.minimum(lam[:, None] * v, 700))
        step = ((w * e).sum(axis=1) - 1) / (w * v * e).sum(axis=1)
        lam -= step
        if np.all(np.abs(step) <= 1e-12 * lam):
            break
    return np.where(mu == 0, 0.0, sign * lam)


def log_arl(h: float | np.ndarray, theta: np.ndarray, mu: np.ndarray, var: np.ndarray, rho: float) -> np.ndarray:
    """``ln ARL(h)`` by Siegmund's approximation, per (theta, mu) pair (or per ``h``); any sign of ``mu``."""
    b = np.maximum(np.asarray(h) + rho, 1e-9)
    x = theta * b
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        denom = np.log(np.abs(theta * mu))
        big = x + np.log1p(-(x + 1) * np.exp(-x)) - denom
        neg = np.log(np.expm1(x) - x) - denom
        tiny = np.log(b * b / np.maximum(var, 1e-300)) + np.zeros_like(x)
    out = np.where(x > 1e-3, big, np.where(x < -1e-3, neg, tiny))
    return np.where(np.isinf(theta), np.inf, out)


def draw_atoms(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices of atoms drawn from ``probs`` for the simulated streams (shareable between
    CUSUMs whose increments are functions of the same atoms)."""
    cdf = np.cumsum(probs)
    return np.minimum(np.searchsorted(cdf, rng.random((REPLICATES, STEPS)) * cdf[-1]), probs.size - 1)


def _simulate(inc: Increments, rng: np.random.Generator,
              atoms: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """Running maxima of REPLICATES simulated CUSUMs, the elapsed events per step, and the
    shift from simulated statistic to real one (Bernoulli CUSUMs are simulated at rare events)."""
    shape = (REPLICATES, STEPS)
    if inc.bernoulli:
        a, c = float(inc.values[0]), float(-inc.values[1])
        rate = -math.log1p(-min(max(float(inc.probs[0]), 1e-12), 1 - 1e-12))
        gaps = np.maximum(np.ceil(rng.standard_exponential(shape) / rate), 1).astype(np.int64)  # geometric
        z, elapsed, s0, shift = a - c * (gaps - 1), np.cumsum(gaps, axis=1), -a, a
    else:
        z = inc.values[draw_atoms(inc.probs, rng) if atoms is None else atoms]
        elapsed, s0, shift = np.broadcast_to(np.arange(1, STEPS + 1), shape), 0.0, 0.0
    c = np.cumsum(z, axis=1)
    path = c - np.minimum(np.minimum.accumulate(c, axis=1), -s0)
    return np.maximum.accumulate(path, axis=1), elapsed, shift


def _run_lengths(peak: np.ndarray, elapsed: np.ndarray, h: float) -> tuple[float, int, float]:
    """Censoring-aware mean run length to ``h``, the number of runs that reached it, and
    the mean number of steps to it."""
    steps = (peak < h).sum(axis=1)
    crossed = steps < peak.shape[1]
    time = elapsed[np.arange(peak.shape[0]), np.minimum(steps, peak.shape[1] - 1)]
    n = int(crossed.sum())
    return float(time.sum()) / max(n, 1), n, float(np.minimum(steps + 1, peak.shape[1]).mean())


def fit_overshoot(inc: Increments, theta: float, rng: np.random.Generator, atoms: np.ndarray | None = None) -> float:
    """Fit Siegmund's ``rho`` to simulated run lengths."""
    peak, elapsed, shift = _simulate(inc, rng, atoms)
    sd = math.sqrt(max(inc.var, 1e-300))
    points = []
    for horizon in (STEPS // 2**j for j in range(1, 8)):
        h = float(np.median(peak[:, horizon - 1])) + shift
        arl, n, steps = _run_lengths(peak, elapsed, h - shift)
        if n >= 20 and steps >= 8 and h > 0:
            points.append((h, arl, n))
    if len(points) < 2 or not math.isfinite(theta):
        return 1.166 * sd
    h, arl, n = (np.array(col, dtype=np.float64) for col in zip(*points))
    mu, var = np.array([inc.mean]), np.array([inc.var])

    def loss(rho: float) -> float:
        return float((n * (np.log(arl) - log_arl(h, np.array([theta]), mu, var, rho)) ** 2).sum())

    lo, hi = -0.9 * float(h.min()), 4 * sd + float(inc.values.max())
    for _ in range(60):  # golden-section search
        m1, m2 = hi - 0.618 * (hi - lo), lo + 0.618 * (hi - lo)
        lo, hi = (lo, m2) if loss(m1) < loss(m2) else (m1, hi)
    return (lo + hi) / 2


def _posterior(inc: Increments, theta: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """theta, mu and var per posterior draw of the probabilities (atoms grouped by value)."""
    keep = inc.probs > 0
    values, probs = inc.values[keep], inc.probs[keep]
    order = np.argsort(values, kind="stable")
    values, probs = values[order], probs[order]
    group = np.minimum(((np.cumsum(probs) - probs / 2) * GROUPS).astype(np.intp), GROUPS - 1)
    if values.size <= GROUPS:
        group = np.arange(values.size)
    _, group = np.unique(group, return_inverse=True)
    mass = np.bincount(group, probs)
    mean = np.bincount(group, probs * values) / mass
    m2 = np.bincount(group, probs * values**2) / mass
    if math.isfinite(theta) and theta != 0:  # certainty equivalents keep the nominal root exact
        atoms = np.log(np.bincount(group, probs * np.exp(np.minimum(theta * values, 700))) / mass) / theta
    else:
        atoms = mean
    draws = rng.gamma(np.maximum(mass * inc.rows, 1e-3), size=(DRAWS, mass.size))
    draws /= draws.sum(axis=1, keepdims=True)
    mu = draws @ mean
    return adjustment_coefficient(atoms, draws), mu, np.maximum(draws @ m2 - mu**2, 1e-300)


def _solve(theta: np.ndarray, mu: np.ndarray, var: np.ndarray, rho: float, ert: float) -> float:
    """The smallest ``h`` whose false-alarm rate, averaged over the rows, is at most ``1/ert``."""
    def excess(h: float) -> float:
        rates = -log_arl(h, theta, mu, var, rho)
        top = rates.max()
        return float(top + np.log(np.mean(np.exp(rates - top)))) + math.log(ert)

    lo, hi = 0.0, 1.0
    while excess(hi) > 0 and hi < 1e7:
        lo, hi = hi, hi * 2
    while hi - lo > 1e-7 * hi:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if excess(mid) > 0 else (lo, mid)
    return hi


def calibrate(inc: Increments, ert: float, rng: np.random.Generator, uncertainty: bool = True,
              atoms: np.ndarray | None = None, rho: float | None = None) -> Calibration:
    """The threshold giving ``inc``'s CUSUM an expected ``ert`` events between false alarms
    (``atoms``: simulated draws from :func:`draw_atoms`, to share them between CUSUMs;
    ``rho``: an overshoot correction already fitted for practically the same increments)."""
    theta = float(adjustment_coefficient(inc.values, inc.probs)[0])
    if not math.isfinite(theta):
        return Calibration(0.0, ert, theta, inc.mean, 0.0, 0.0)
    if rho is None:
        rho = fit_overshoot(inc, theta, rng, atoms)
    one = lambda x: np.array([x])  # noqa: E731
    nominal = _solve(one(theta), one(inc.mean), one(inc.var), rho, ert)
    if not uncertainty or not math.isfinite(inc.rows):
        return Calibration(nominal, ert, theta, inc.mean, rho, nominal)
    thetas, mus, variances = _posterior(inc, theta, rng)
    return Calibration(max(_solve(thetas, mus, variances, rho, ert), nominal), ert, theta, inc.mean, rho, nominal)
