"""Safe annotation templates: ``{name}`` substitution and nothing else.

A template is checked when the rule file loads: every ``{field}`` must be one of the
names the rule provides (``value``, ``threshold``, ``labels.model_id`` ...), and an
optional format spec is allowed on numbers only (``{value:.2f}``). There is no
attribute access, indexing, conversion or expression: the template text is split
with :meth:`string.Formatter.parse` and the values are looked up in plain dicts
by this module, so ``{labels.__class__}`` or ``{value.__init__}`` cannot run
anything. A value missing at evaluation time renders as ``<no value>`` (as in
Prometheus' templates) and never raises.

>>> t = Template.compile("PSI {value:.2f} > {threshold} on {labels.feature}", {"value", "threshold"}, {"feature"})
>>> t.render({"value": 0.3141, "threshold": 0.25}, {"feature": "amount"})
'PSI 0.31 > 0.25 on amount'
>>> t.render({"value": None, "threshold": 0.25}, {})
'PSI <no value> > 0.25 on <no value>'
"""

from __future__ import annotations

import math
import re
import string
from dataclasses import dataclass
from typing import Collection, Mapping

NO_VALUE = "<no value>"
Value = float | int | str | None

_FIELD = re.compile(r"^(?:labels\.(?P<label>[A-Za-z][A-Za-z0-9_]*|_[A-Za-z0-9][A-Za-z0-9_]*)|(?P<name>[a-z][a-z_]*))$")
_NUMBER_SPEC = re.compile(r"^[<>^=]?[+\- ]?#?0?\d*[,_]?(?:\.\d+)?[eEfFgG%]?$")


@dataclass(frozen=True, slots=True)
class _Part:
    literal: str
    field: str | None  # "value" or "labels.model_id"
    spec: str


@dataclass(frozen=True, slots=True)
class Template:
    """A compiled template; build it with :meth:`compile`."""

    text: str
    parts: tuple[_Part, ...]

    @classmethod
    def compile(cls, text: str, fields: Collection[str], labels: Collection[str] | None = None) -> Template:
        """Check ``text`` against the allowed ``fields`` and label names (None: any label).

        Raises ValueError naming the offending field and what was expected.
        """
        try:
            pieces = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise ValueError(f"invalid template ({exc}); write {{{{ and }}}} for literal braces") from None
        parts = tuple(_check_part(literal, name, spec, conversion, fields, labels)
                      for literal, name, spec, conversion in pieces)
        return cls(text, parts)

    def render(self, values: Mapping[str, Value], labels: Mapping[str, str]) -> str:
        """Substitute values; never raises."""
        out: list[str] = []
        for part in self.parts:
            out.append(part.literal)
            if part.field is None:
                continue
            if part.field.startswith("labels."):
                out.append(labels.get(part.field[7:], NO_VALUE))
            else:
                out.append(format_value(values.get(part.field), part.spec))
        return "".join(out)


def _check_part(
    literal: str, name: str | None, spec: str | None, conversion: str | None,
    fields: Collection[str], labels: Collection[str] | None,
) -> _Part:
    if name is None:
        return _Part(literal, None, "")
    shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
    found = _FIELD.match(name)
    if found is None or conversion:
        raise ValueError(f"{shown}: expected {{field}} or {{labels.NAME}}; {_expected(fields)}")
    label, field = found["label"], found["name"]
    if label is not None and labels is not None and label not in labels:
        known = ", ".join(sorted(labels)) or "none"
        raise ValueError(f"{shown}: label {label!r} is not among this rule's labels ({known})")
    if field is not None and field not in fields:
        raise ValueError(f"{shown}: unknown field {field!r}; {_expected(fields)}")
    spec = spec or ""
    if spec and (label is not None or not _NUMBER_SPEC.match(spec)):
        raise ValueError(f"{shown}: a format spec is allowed on numbers only, like {{value:.2f}}")
    return _Part(literal, name, spec)


def _expected(fields: Collection[str]) -> str:
    return "expected one of " + ", ".join(sorted(fields)) + " or labels.NAME"


def format_value(value: Value, spec: str = "") -> str:
    """A value for people: ``0.31``, ``300``, ``1.235e+06``; ``<no value>`` for None."""
    if value is None:
        return NO_VALUE
    if isinstance(value, str):
        return value
    number = float(value)
    if spec:
        try:
            return format(number, spec)
        except ValueError:
            pass
    if math.isfinite(number) and number == int(number) and abs(number) < 1e15:
        return str(int(number))
    return format(number, ".4g")
