"""Operator commands to the workers, on ``<prefix>.control``: today, re-basing a model's drift reference.

A command is keyed by model_id and written to the partition of ``<prefix>.control`` with the
same number as the model's partition of ``<prefix>.predictions``, so the worker that owns the
model's state receives it, in order with the model's events, and applies it under the same
lock and checkpoint as they are (:mod:`driftline.checkpoint`). A command for a model the
worker does not know is logged and dropped.

>>> raw = RebaseCommand(model_id="fraud", model_version="v7", warmup_events=2000,
...                     requested_by="ana", requested_at=1.0).encode()
>>> command = decode_command(raw)
>>> command.model_id, command.model_version, command.warmup_events, command.reference
('fraud', 'v7', 2000, None)
"""

from __future__ import annotations

from typing import Literal

import msgspec

from driftline.error import DecodeError


class RebaseCommand(msgspec.Struct, frozen=True, kw_only=True, tag="rebase", tag_field="command"):
    """Replace the drift reference of a model's versions (or one version).

    With ``reference`` (a :class:`~driftline.estimators.reference.Reference` snapshot from
    :mod:`driftline.state.codec`) that reference is calibrated and watched; without one the
    version learns a new reference from its next ``warmup_events`` events (the configured
    ``drift.warmup_events`` when null). Either way the old statistics and detections are dropped.
    """

    model_id: str
    model_version: str | None = None  # None: every version of the model
    reference: bytes | None = None
    warmup_events: int | None = None
    requested_by: str = ""
    requested_at: float = 0.0
    reason: str = ""

    def encode(self) -> bytes:
        return _encoder.encode(self)


Command = RebaseCommand
COMMAND_NAMES: tuple[Literal["rebase"], ...] = ("rebase",)

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(RebaseCommand)


def decode_command(raw: bytes) -> Command:
    """Decode a control record; raises DecodeError on anything else."""
    try:
        command = _decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise DecodeError("not_command", f"not a driftline control command: {exc}") from None
    if command.warmup_events is not None and command.warmup_events < 1:
        raise DecodeError("bad_command", "rebase: warmup_events must be at least 1")
    return command
