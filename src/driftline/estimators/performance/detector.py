"""Concept-drift detectors on a model's per-event error stream: river's DDM, EDDM, HDDM_A, HDDM_W and ADWIN.

Once labels arrive, each joined event has an error: 1 if the prediction was wrong, else 0
(classification), or a loss. A change of P(y|x) that leaves the inputs alone (concept drift)
is invisible to feature drift but shows in the error stream. The river detectors are wrapped,
not rewritten, and fed one value per joined event in join order:

==========  ===========================================  ================================
name        river class                                   input
==========  ===========================================  ================================
``ddm``     ``drift.binary.DDM`` (Gama et al. 2004)       0/1 error
``eddm``    ``drift.binary.EDDM`` (Baena-Garcia 2006)     0/1 error
``hddm_a``  ``drift.binary.HDDMA`` (Frias-Blanco 2014)    0/1 error
``hddm_w``  ``drift.binary.HDDMW``                         0/1 error
``adwin``   ``drift.ADWIN`` (Bifet and Gavalda 2007)      loss (see :func:`error_stream`)
==========  ===========================================  ================================

A river detector flags drift only at the event that detects it (and resets at the next);
here ``drift_detected`` holds for ``hold`` events after the latest detection, so that it does
not depend on how events are batched or when it is read.

State is written out attribute by attribute, never pickled: river's Python statistics
(``Mean``, ``Var``, ``EWMean``, HDDM_W's ``SampleInfo``) as dicts of their attributes, and
its Rust objects (ADWIN's window, EWMean's core) through their own binary serialisation
(``__getstate__``, a few hundred bytes), kept as hex strings.

>>> rng = np.random.default_rng(0)
>>> errors = np.concatenate([rng.random(3000) < 0.1, rng.random(1000) < 0.3]).astype(float)
>>> ddm = ErrorDetector("ddm").update_batch(errors)
>>> ddm.alarms >= 1, ddm.last_alarm > 3000, ddm.drift_detected
(True, True, True)
"""

from __future__ import annotations

from typing import Any, Mapping, Self

import numpy as np
from river import _river_rust, drift, stats
from river.drift.binary.hddm_w import SampleInfo

from driftline.estimators.base import Estimator, State
from driftline.estimators.river import AlarmCounter

DETECTORS: dict[str, Any] = {"ddm": drift.binary.DDM, "eddm": drift.binary.EDDM, "hddm_a": drift.binary.HDDMA,
                             "hddm_w": drift.binary.HDDMW, "adwin": drift.ADWIN}
# On by default: ADWIN, the quickest of the five on the concept drifts of
# benchmarks/accuracy_quality.py and the only one without false alarms on its stable streams
# (6 x 10^5 labelled events). The others alarm on stable streams, per 10^6 labelled events:
# HDDM_A ~10, DDM ~10, HDDM_W ~130, EDDM ~300: opt in.
DEFAULT_DETECTORS = ("adwin",)
ON_LOSS = frozenset({"adwin"})  # detectors fed the loss; the others get the 0/1 error
_PYTHON_TYPES: dict[str, type] = {"Mean": stats.Mean, "Var": stats.Var, "EWMean": stats.EWMean,
                                  "SampleInfo": SampleInfo}


def _dump(value: Any) -> Any:
    """A river attribute as plain data."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    name = type(value).__name__
    if _PYTHON_TYPES.get(name) is type(value):
        return {"type": name, "attrs": {k: _dump(v) for k, v in vars(value).items()}}
    if type(value).__module__.startswith("river._river_rust"):
        return {"rust": name, "args": [_dump(a) for a in value.__getnewargs__()], "hex": value.__getstate__().hex()}
    raise TypeError(f"cannot snapshot river attribute of type {type(value).__qualname__}")


def _load(data: Any) -> Any:
    """The inverse of :func:`_dump`."""
    if not isinstance(data, dict):
        return data
    if "rust" in data:
        cls = next(getattr(m, data["rust"]) for m in (_river_rust.stats, _river_rust.drift) if hasattr(m, data["rust"]))
        obj = cls(*[_load(a) for a in data["args"]])
        obj.__setstate__(bytes.fromhex(data["hex"]))
        return obj
    obj = object.__new__(_PYTHON_TYPES[data["type"]])
    for key, value in data["attrs"].items():
        setattr(obj, key, _load(value))
    return obj


class ErrorDetector(AlarmCounter, Estimator):
    """One river concept-drift detector on a model's error stream.

    Parameters
    ----------
    method
        ``"ddm"``, ``"eddm"``, ``"hddm_a"``, ``"hddm_w"`` or ``"adwin"``.
    params
        Keyword arguments of the river detector.
    hold
        Events for which a detection stays reported.

    Input: one error (or loss) per joined event, in join order; NaN values are skipped.
    """

    def __init__(self, method: str = "ddm", params: Mapping[str, Any] | None = None, hold: int = 1000) -> None:
        if method not in DETECTORS:
            raise ValueError(f"unknown error-stream detector {method!r}; expected one of {sorted(DETECTORS)}")
        self.method = method
        self.params = dict(params or {})
        self.hold = hold
        self._reset()

    def _reset(self) -> None:
        self._detector = DETECTORS[self.method](**self.params)
        self._reset_alarms()

    def update_batch(self, values: np.ndarray) -> Self:
        x = np.asarray(values, dtype=np.float64)
        self._feed(x, x.size)
        return self





    def _get_state(self) -> State:
        attrs = {k: _dump(v) for k, v in vars(self._detector).items() if k.startswith("_")}
        return {"events": self._events, "alarms": self._alarms, "last_alarm": self._last_alarm, "river": attrs}

    def _set_state(self, state: State) -> None:
        self._events, self._alarms = int(state["events"]), int(state["alarms"])
        self._last_alarm = int(state["last_alarm"])
        for key, value in state["river"].items():
            setattr(self._detector, key, _load(value))
