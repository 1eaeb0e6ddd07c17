"""The topic names of the contract (DESIGN.md §2), derived from one configurable prefix.

>>> TopicNames("driftline").predictions
'driftline.predictions'
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TopicNames:
    """The topic names of the contract (DESIGN.md §2) for one prefix."""

    prefix: str

    @property
    def predictions(self) -> str:
        return f"{self.prefix}.predictions"

    @property
    def features(self) -> str:
        return f"{self.prefix}.features"

    @property
    def labels(self) -> str:
        return f"{self.prefix}.labels"

    @property
    def alerts(self) -> str:
        return f"{self.prefix}.alerts"

    @property
    def deadletter(self) -> str:
        return f"{self.prefix}.deadletter"

    @property
    def checkpoints(self) -> str:
        return f"{self.prefix}.checkpoints"

    @property
    def control(self) -> str:
        return f"{self.prefix}.control"

    @property
    def silences(self) -> str:
        return f"{self.prefix}.silences"

    @property
    def inputs(self) -> tuple[str, str, str]:
        return (self.predictions, self.features, self.labels)
