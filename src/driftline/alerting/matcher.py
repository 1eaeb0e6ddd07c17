"""Label matchers in Alertmanager's syntax: ``name=value``, ``name!=value``, ``name=~regex``, ``name!~regex``.

As in Alertmanager, a regular expression is fully anchored (``feature=~amount``
does not match ``amount_eur``), a missing label has the value ``""``, and the
value may be double-quoted (``severity="critical"``).

>>> m = Matcher.parse('severity=~"critical|error"')
>>> m.matches({"severity": "error"}), m.matches({"severity": "errors"}), str(m)
(True, False, 'severity=~"critical|error"')
>>> Matcher.parse("team!=").matches({})
False
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from driftline.alerting.keypath import KeyPath
from driftline.alerting.model import AlertRecord

LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$", re.DOTALL)


class MatchType(str, enum.Enum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher; build it with :meth:`parse`."""

    name: str
    type: MatchType
    value: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """Parse ``name<op>value``; raises ValueError with what was expected."""
        found = _MATCHER.match(text) if isinstance(text, str) else None
        if found is None:
            raise ValueError(f"expected a matcher like name=value, name!=value, name=~regex or name!~regex, got {text!r}")
        name, op, value = found[1], MatchType(found[2]), _unquote(found[3])
        regex = None
        if op in (MatchType.REGEX, MatchType.NOT_REGEX):
            try:
                regex = re.compile(f"(?:{value})", re.DOTALL)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
        return cls(name, op, value, regex)

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.type is MatchType.EQUAL:
            return actual == self.value
        if self.type is MatchType.NOT_EQUAL:
            return actual != self.value
        assert self._regex is not None
        found = self._regex.fullmatch(actual) is not None
        return found if self.type is MatchType.REGEX else not found

    def __str__(self) -> str:
        return f"{self.name}{self.type.value}{json.dumps(self.value)}"


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            decoded = json.loads(value)
        except ValueError:
            return value[1:-1]
        return decoded if isinstance(decoded, str) else value[1:-1]
    return value


def parse_matchers(texts: Iterable[str], where: KeyPath) -> tuple[Matcher, ...]:
    """Matchers of a rule or routing file; an error names the index of the bad one."""
    matchers = []
    for i, text in enumerate(texts):
        try:
            matchers.append(Matcher.parse(text))
        except ValueError as exc:
            raise (where / i).error(str(exc)) from None
    return tuple(matchers)


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """Whether every matcher matches (true for no matchers)."""
    return all(matcher.matches(labels) for matcher in matchers)


def alert_labels(record: AlertRecord) -> dict[str, str]:
    """The label set routes, inhibition rules and silences match: the labels plus ``rule`` and ``severity``."""
    return {**record.labels, "rule": record.rule, "severity": record.severity.value}
