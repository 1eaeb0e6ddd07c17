"""All alert rules of a deployment, loaded from ``alert-rules/*.yaml``.

Every ``*.yaml`` file of the directory except ``routing.yaml`` (see
:mod:`driftline.alerting.routing`) is a rule file; subdirectories (such as
``alert-rules/prometheus/``) are not read. Rule names are unique across files,
since the name is part of every alert's fingerprint.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from driftline.alerting.keypath import KeyPath, convert
from driftline.alerting.rule import Rule, RuleFileSpec
from driftline.config import read_yaml
from driftline.error import ConfigError

ROUTING_FILE = "routing.yaml"


@dataclass(frozen=True)
class RuleSet:
    """Checked rules, in file order."""

    rules: tuple[Rule, ...] = ()

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def get(self, name: str) -> Rule | None:
        return next((rule for rule in self.rules if rule.name == name), None)

    @classmethod
    def from_mapping(cls, data: Any, source: str = "<rules>") -> RuleSet:
        """Check one parsed rule file."""
        return cls._combine([_compile_file(data, source)])

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RuleSet:
        """Load one rule file, or every rule file of a directory (sorted by name)."""
        path = Path(path)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.name != ROUTING_FILE)
        elif path.exists():
            files = [path]
        else:
            raise ConfigError(f"{path}: no such file or directory")
        return cls._combine([_compile_file(read_yaml(file), str(file)) for file in files])

    @classmethod
    def _combine(cls, files: list[list[Rule]]) -> RuleSet:
        first: dict[str, Rule] = {}
        for rule in (rule for rules in files for rule in rules):
            if rule.name in first:
                raise ConfigError(f"{rule.origin}.name: duplicate rule name {rule.name!r} "
                                  f"(first in {first[rule.name].origin})")
            first[rule.name] = rule
        return cls(tuple(first.values()))


def _compile_file(data: Any, source: str) -> list[Rule]:
    spec = convert(data, RuleFileSpec, source)
    return [Rule.compile(rule, KeyPath(source) / "rules" / i) for i, rule in enumerate(spec.rules)]
