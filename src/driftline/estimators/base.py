"""The contract every estimator follows, after river's ``base.Estimator``."""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from typing import Any, Self

import numpy as np

State = dict[str, Any]


class Estimator(ABC):
    """An online estimator: updated per value or per batch, snapshotted as plain data.

    Subclasses keep their hyper-parameters as public attributes set in ``__init__``
    (so that :meth:`clone` can rebuild them) and their state private, built in ``_reset()``.
    ``to_state()`` returns plain data (numbers, strings, lists, dicts and numpy arrays)
    that :mod:`driftline.state` can encode without pickle.
    """

    @abstractmethod
    def _reset(self) -> None:
        """Build the empty state."""

    @abstractmethod
    def update_batch(self, values: np.ndarray) -> Self:
        """Update with a batch of values; the hot path."""

    def update(self, value: Any) -> Self:
        """Update with one value; by definition the same as a batch of one."""
        return self.update_batch(np.asarray([value]))

    @abstractmethod
    def _get_state(self) -> State:
        """The private state as plain data."""

    @abstractmethod
    def _set_state(self, state: State) -> None:
        """Restore the private state from :meth:`_get_state`'s output."""

    def _get_params(self) -> dict[str, Any]:
        """Hyper-parameters: every public attribute set in ``__init__``."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def clone(self) -> Self:
        """A new estimator with the same hyper-parameters and an empty state."""
        return type(self)(**copy.deepcopy(self._get_params()))

    def to_state(self) -> State:
        """Hyper-parameters and state, as plain data."""
        return {"params": copy.deepcopy(self._get_params()), "state": self._get_state()}

    @classmethod
    def from_state(cls, snapshot: State) -> Self:
        """Rebuild an estimator from :meth:`to_state`'s output."""
        estimator = cls(**snapshot["params"])
        estimator._set_state(snapshot["state"])
        return estimator

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self._get_params().items())
        return f"{type(self).__name__}({params})"
