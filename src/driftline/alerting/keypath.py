"""Where a value sits in an alerting file, so that every error names the file and the dotted key.

Decoding errors come from msgspec (reworded by :func:`driftline.config.describe_validation_error`);
checks that need more than one field at a time raise ``KeyPath.error``.

>>> where = KeyPath("drift.yaml") / "rules" / 0 / "condition"
>>> str(where.error("expected exactly one condition"))
'drift.yaml: rules.0.condition: expected exactly one condition'
"""

from __future__ import annotations

import os
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import msgspec
import msgspec.structs

from driftline.config import describe_validation_error, read_yaml
from driftline.error import ConfigError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class KeyPath:
    """A file and a dotted key inside it."""

    source: str
    key: str = ""

    def __truediv__(self, part: str | int) -> KeyPath:
        return KeyPath(self.source, f"{self.key}.{part}" if self.key else str(part))

    def error(self, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: {self.key or '(top level)'}: {message}")


def convert(data: Any, cls: type[T], source: str) -> T:
    """Validate parsed YAML into the struct ``cls``; errors name ``source`` and the dotted key."""
    if not isinstance(data, dict):
        kind = "nothing" if data is None else type(data).__name__
        raise ConfigError(f"{source}: expected a mapping at the top level, got {kind}")
    try:
        return msgspec.convert(data, cls, strict=True)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {_describe(exc, cls)}") from None


def _describe(exc: msgspec.ValidationError, root: type) -> str:
    """describe_validation_error, plus the choices of a Literal inside lists, and no "| null"."""
    message = describe_validation_error(exc, root=root).replace(" | null", "")
    key, _, rest = message.partition(": ")
    if rest.startswith("invalid enum value") and "expected one of" not in rest:
        choices = _literal_choices(root, key)
        if choices:
            message += f"; expected one of {', '.join(choices)}"
    return message


def _literal_choices(root: Any, key: str) -> list[str]:
    """The values of the Literal at dotted ``key`` under the struct ``root`` (lists by index)."""
    current = root
    for part in key.split("."):
        current = _strip_optional(current)
        if part.isdigit() and typing.get_origin(current) is list:
            current = typing.get_args(current)[0]
        elif isinstance(current, type) and issubclass(current, msgspec.Struct):
            fields = {f.encode_name: f.type for f in msgspec.structs.fields(current)}
            if part not in fields:
                return []
            current = fields[part]
        else:
            return []
    current = _strip_optional(current)
    return [str(a) for a in typing.get_args(current)] if typing.get_origin(current) is Literal else []


def _strip_optional(annotation: Any) -> Any:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return annotation


def load_document(path: str | os.PathLike[str], cls: type[T]) -> T:
    """Read the YAML file at ``path`` and validate it into ``cls``."""
    return convert(read_yaml(path), cls, str(path))
