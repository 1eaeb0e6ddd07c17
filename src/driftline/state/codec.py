"""The versioned snapshot codec: estimator and monitor state to bytes and back, never with pickle.

A snapshot is a tree of plain data — ``None``, bools, ints, floats (NaN and
infinities included), strings, bytes, lists, tuples, dicts with string keys — and
numpy arrays of numeric or boolean dtype. It is encoded as MessagePack (msgspec) with
numpy arrays as an extension type (dtype, shape, raw little-endian bytes), inside an
envelope that names the format and its version::

    {"format": "driftline-snapshot", "version": 1, "kind": "...", "state": ...}

Decoding never runs code from the bytes: an unknown extension, a bad dtype or a shape
that does not fit the data is a :class:`~driftline.error.StateError`. A snapshot of
an older version is upgraded by the migrations registered for its kind, in order, so
that old checkpoints still load after an upgrade of driftline.

>>> import numpy as np
>>> raw = encode_snapshot("example", {"counts": np.arange(3, dtype=np.int64), "mean": float("nan")})
>>> state = decode_snapshot(raw, "example")
>>> state["counts"].tolist(), state["mean"]
([0, 1, 2], nan)
"""

from __future__ import annotations

from typing import Any, Callable

import msgspec
import numpy as np

from driftline.error import StateError

FORMAT = "driftline-snapshot"
VERSION = 1
_NDARRAY = 1  # msgpack extension code of a numpy array
_DTYPES = {"b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f4", "f8"}

Migration = Callable[[Any], Any]
# kind -> {from_version: migration to from_version + 1}
_MIGRATIONS: dict[str, dict[int, Migration]] = {}


class _Envelope(msgspec.Struct):
    format: str
    version: int
    kind: str
    state: Any


def register_migration(kind: str, from_version: int, migration: Migration) -> None:
    """Register how a ``kind`` snapshot of ``from_version`` becomes one of ``from_version + 1``."""
    _MIGRATIONS.setdefault(kind, {})[from_version] = migration


def encode_snapshot(kind: str, state: Any) -> bytes:
    """Encode ``state`` (plain data and numpy arrays) as a snapshot of ``kind``."""
    try:
        return _encoder.encode(_Envelope(FORMAT, VERSION, kind, state))
    except (TypeError, ValueError) as exc:
        raise StateError(f"cannot snapshot {kind}: {exc}") from exc


def decode_snapshot(raw: bytes, kind: str) -> Any:
    """Decode a snapshot of ``kind``, upgrading it from an older version; raises StateError."""
    try:
        envelope = _decoder.decode(raw)
    except (msgspec.DecodeError, StateError) as exc:
        raise StateError(f"unreadable {kind} snapshot: {exc}") from None
    if envelope.format != FORMAT:
        raise StateError(f"not a driftline snapshot (format {envelope.format!r})")
    if envelope.kind != kind:
        raise StateError(f"expected a {kind} snapshot, got a {envelope.kind} snapshot")
    if envelope.version > VERSION:
        raise StateError(f"{kind} snapshot of version {envelope.version} is newer than this driftline ({VERSION})")
    state = envelope.state
    for version in range(envelope.version, VERSION):
        migration = _MIGRATIONS.get(kind, {}).get(version)
        if migration is None:
            raise StateError(f"no migration of {kind} snapshots from version {version}")
        state = migration(state)
    return state


def _enc_hook(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        dtype = value.dtype.newbyteorder("<") if value.dtype.byteorder == ">" else value.dtype
        code = dtype.str.lstrip("<>|=")
        if code not in _DTYPES:
            raise TypeError(f"numpy arrays of dtype {value.dtype} cannot be snapshotted")
        header = msgspec.msgpack.encode([code, list(value.shape)])
        data = np.ascontiguousarray(value, dtype=dtype.newbyteorder("<")).tobytes()
        return msgspec.msgpack.Ext(_NDARRAY, len(header).to_bytes(4, "little") + header + data)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} cannot be snapshotted (plain data and numpy arrays only)")


def _ext_hook(code: int, data: memoryview) -> Any:
    if code != _NDARRAY:
        raise StateError(f"unknown extension type {code}")
    size = int.from_bytes(data[:4], "little")
    try:
        dtype_code, shape = msgspec.msgpack.decode(data[4:4 + size])
    except (msgspec.DecodeError, ValueError) as exc:
        raise StateError(f"bad array header: {exc}") from None
    if dtype_code not in _DTYPES:
        raise StateError(f"bad array dtype {dtype_code!r}")
    dtype = np.dtype("<" + dtype_code)
    payload = data[4 + size:]
    count = int(np.prod(shape)) if shape else 1
    if count * dtype.itemsize != len(payload):
        raise StateError(f"array of shape {shape} and dtype {dtype_code} does not fit {len(payload)} bytes")
    return np.frombuffer(payload, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


_encoder = msgspec.msgpack.Encoder(enc_hook=_enc_hook)
_decoder = msgspec.msgpack.Decoder(_Envelope, ext_hook=_ext_hook)
