"""Receivers as the routing file names them: a name, a channel type and pass-through settings.

The channel-specific settings are checked by the channel in :mod:`driftline.notify`;
here only the type is, and that secrets are references, never inline values: a
setting whose name says it is a secret (``token``, ``password``, ``routing_key``,
``webhook_url``, ...) must be ``{env: NAME}`` or ``{file: PATH}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

import msgspec

from driftline.alerting.keypath import KeyPath
from driftline.config import Secret

ReceiverType = Literal["email", "slack", "pagerduty", "webhook"]
SECRET_SETTING = re.compile(r"(token|password|secret|routing_key|integration_key|api_key|webhook_url)$", re.IGNORECASE)


class ReceiverSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    name: str
    type: ReceiverType
    send_resolved: bool = True
    settings: dict[str, Any] = {}


@dataclass(frozen=True)
class Receiver:
    """Where notifications of a route go; ``settings`` is handed to the channel as it is."""

    name: str
    type: ReceiverType
    send_resolved: bool = True
    settings: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, spec: ReceiverSpec, where: KeyPath) -> Receiver:
        _check_secrets(spec.settings, where / "settings")
        return cls(spec.name, spec.type, spec.send_resolved, dict(spec.settings))


def _check_secrets(settings: Mapping[str, Any], where: KeyPath) -> None:
    for key, value in settings.items():
        if isinstance(value, dict) and not SECRET_SETTING.search(str(key)):
            _check_secrets(value, where / key)
        elif SECRET_SETTING.search(str(key)):
            try:
                msgspec.convert(value, Secret, strict=True)
            except msgspec.ValidationError:
                raise (where / key).error(
                    "expected a secret reference, {env: NAME} or {file: PATH}; secrets are never written inline"
                ) from None
