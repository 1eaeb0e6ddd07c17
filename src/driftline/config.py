"""Typed configuration: one YAML file, validated at start.

The file is decoded into frozen ``msgspec`` structs. Unknown keys, wrong types and
out-of-range values are errors whose message names the file, the dotted key and
what was expected, e.g.::

    driftline.yaml: kafka.session_timeout_seconds: expected a number >= 1, got 0.5

Secrets never appear in the file itself: a secret is ``{env: NAME}`` or
``{file: PATH}`` and is read when it is needed (``Secret.reveal``). Its repr is
redacted so that it cannot leak into logs by accident.

>>> cfg = Config.from_mapping({"kafka": {"bootstrap_servers": "127.0.0.1:9092"}})
>>> cfg.kafka.topic_prefix, cfg.kafka.servers
('driftline', ['127.0.0.1:9092'])
"""

from __future__ import annotations

import os
import re
import ssl
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import yaml

from driftline.error import ConfigError

ENV_CONFIG = "DRIFTLINE_CONFIG"

_Positive = Annotated[float, msgspec.Meta(gt=0)]
_PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
_Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
_TopicPrefix = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._-]{1,200}$")]


class Secret(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A reference to a secret: exactly one of an environment variable or a file."""

    env: str | None = None
    file: str | None = None

    def __post_init__(self) -> None:
        if (self.env is None) == (self.file is None):
            raise ValueError("a secret is {env: NAME} or {file: PATH}, exactly one of them")

    def reveal(self) -> str:
        """Read the secret now; raises ConfigError naming the source (never the value)."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise ConfigError(f"secret: environment variable {self.env} is not set")
            return value
        assert self.file is not None
        try:
            return Path(self.file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"secret: cannot read file {self.file}: {exc.strerror}") from exc

    def __repr__(self) -> str:
        source = f"env={self.env}" if self.env is not None else f"file={self.file}"
        return f"Secret({source})"


class KafkaConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How to reach Kafka and which consumer group to join."""

    bootstrap_servers: str | list[str] = "127.0.0.1:9092"
    topic_prefix: _TopicPrefix = "driftline"
    group_id: str = "driftline"
    client_id: str = "driftline"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: Secret | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_check_hostname: bool = True
    partitions: _PositiveInt = 8
    replication_factor: _PositiveInt = 1
    # faust's defaults (60 s session) make a worker wait ~30 s to join its group; see DESIGN.md §6.
    session_timeout_seconds: Annotated[float, msgspec.Meta(ge=1)] = 6.0
    heartbeat_interval_seconds: _Positive = 0.5
    # At start, a worker waits this long for the brokers to answer, then stops with an error.
    connect_timeout_seconds: _Positive = 60.0

    def __post_init__(self) -> None:
        if self.security_protocol.startswith("SASL"):
            if self.sasl_mechanism is None or self.sasl_username is None or self.sasl_password is None:
                raise ValueError(
                    f"security_protocol {self.security_protocol} needs sasl_mechanism, "
                    "sasl_username and sasl_password"
                )
        # Settings the protocol would ignore are a mistake (credentials, a CA meant to be used), not a default.
        ignored = [key for key in ("sasl_mechanism", "sasl_username", "sasl_password")
                   if not self.security_protocol.startswith("SASL") and getattr(self, key) is not None]
        ignored += [key for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile")
                    if not self.security_protocol.endswith("SSL") and getattr(self, key) is not None]
        if ignored:
            raise ValueError(f"{', '.join(ignored)} would be ignored with security_protocol {self.security_protocol}; "
                             "set the security_protocol that uses them")
        if self.ssl_keyfile is not None and self.ssl_certfile is None:
            raise ValueError("ssl_keyfile needs ssl_certfile (the client certificate it belongs to)")
        if self.heartbeat_interval_seconds * 3 > self.session_timeout_seconds:
            raise ValueError("heartbeat_interval_seconds must be at most a third of session_timeout_seconds")

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of SSL and SASL_SSL, from the configured CA, certificate and key files."""
        if not self.security_protocol.endswith("SSL"):
            return None
        try:
            context = ssl.create_default_context(cafile=self.ssl_cafile)
        except OSError as exc:  # ssl.SSLError too: not a PEM file
            raise ConfigError(f"kafka.ssl_cafile: cannot load {self.ssl_cafile}: {_reason(exc)}") from None
        context.check_hostname = self.ssl_check_hostname
        if self.ssl_certfile:
            try:
                context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
            except OSError as exc:
                files = self.ssl_certfile + (f" and {self.ssl_keyfile}" if self.ssl_keyfile else "")
                raise ConfigError(f"kafka.ssl_certfile: cannot load {files}: {_reason(exc)}") from None
        return context

    def aiokafka_options(self, client_suffix: str = "") -> dict[str, Any]:
        """Keyword arguments for aiokafka's clients (secrets are read here, never logged)."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.servers,
            "client_id": f"{self.client_id}{client_suffix}",
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol.startswith("SASL"):
            assert self.sasl_password is not None  # checked in __post_init__
            options.update(sasl_mechanism=self.sasl_mechanism, sasl_plain_username=self.sasl_username,
                           sasl_plain_password=self.sasl_password.reveal())
        context = self.ssl_context()
        if context is not None:
            options["ssl_context"] = context
        return options

    @property
    def servers(self) -> list[str]:
        if isinstance(self.bootstrap_servers, str):
            return [s.strip() for s in self.bootstrap_servers.split(",") if s.strip()]
        return list(self.bootstrap_servers)


class WorkerConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How the worker batches Kafka messages before handing them to the monitors."""

    # Messages are taken from the stream in micro-batches of at most this many messages ...
    batch_max_messages: _PositiveInt = 500
    # ... or whatever arrived within this many seconds, whichever comes first.
    batch_max_wait_seconds: _Positive = 0.05


class CheckpointConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Checkpoints of every partition's state and input offsets to ``<prefix>.checkpoints``."""

    enabled: bool = True
    # A checkpoint is written after this many events or this many seconds, whichever comes first.
    interval_events: _PositiveInt = 100_000
    interval_seconds: _Positive = 10.0
    # Reading a partition's checkpoint back must finish within this time, or the worker stops.
    restore_timeout_seconds: _Positive = 60.0


class MetricsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where /metrics is served."""

    host: str = "127.0.0.1"
    port: _Port = 9464


class LimitsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Input limits, enforced before and during decoding."""

    max_message_bytes: _PositiveInt = 1024 * 1024
    max_features: _PositiveInt = 1000
    max_batch_events: _PositiveInt = 10_000
    # Events stamped further in the future than this (relative to the worker's clock) are dead-lettered.
    max_future_seconds: _Positive = 3600.0


class MonitoringConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Bounds on what is monitored, which bound the metrics' label cardinality too."""

    max_models: _PositiveInt = 1000
    # Versions of one model monitored at once; events of more versions are dead-lettered (model_limit).
    max_versions_per_model: _PositiveInt = 20
    max_features_per_model: _PositiveInt = 200
    max_categories: _PositiveInt = 50


class DriftConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Data, prediction and multivariate drift against a reference per model version."""

    enabled: bool = True
    # Without a reference file, a version's reference is its first warmup_events events.
    warmup_events: _PositiveInt = 5000
    # Reference files (JSON lines of events or feature rows, CSV, Parquet) by "model_id" or "model_id/version".
    references: dict[str, str] = {}
    # Expected events between false alarms of one model, all its features and statistics together.
    budget_events: Annotated[float, msgspec.Meta(ge=100)] = 1e7
    window_events: _PositiveInt = 5000
    detectors: list[str] = msgspec.field(default_factory=lambda: ["cusum"])
    # Per model: feature -> importance, for the importance-weighted model drift score.
    importances: dict[str, dict[str, float]] = {}
    # Events that arrive while a version calibrates wait (up to this many) and update drift once it
    # is calibrated, so that drift state does not depend on how long calibration took.
    calibration_backlog_events: Annotated[int, msgspec.Meta(ge=0)] = 100_000


class QualityConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The label join and the quality estimators (realized metrics, CBPE, error-stream detectors)."""

    enabled: bool = True
    # Predictions wait this long (event time) for their label, and labels for their prediction.
    label_ttl_seconds: _Positive = 7 * 24 * 3600.0
    # Per model: waiting predictions and labels beyond this are evicted, oldest first (and counted).
    max_pending: _PositiveInt = 200_000
    window_events: _PositiveInt | None = 1000
    window_seconds: _Positive | None = None
    detectors: list[Literal["ddm", "eddm", "hddm_a", "hddm_w", "adwin"]] = msgspec.field(
        default_factory=lambda: ["adwin"])
    cbpe: bool = True
    # Metrics per segment: per model_id ("*" for every model not named) the name whose value is an event's
    # segment label, taken from the event's "segment" object, else from its features (e.g. {"*": country}).
    segments: dict[str, Annotated[str, msgspec.Meta(min_length=1)]] = {}
    # Per model version, the first max_segments distinct values get their own metrics; later ones share "__other__".
    max_segments: _PositiveInt = 20

    def segment_by(self, model_id: str) -> str | None:
        """The name whose value segments ``model_id``'s events, or None for a model without segments."""
        return self.segments.get(model_id, self.segments.get("*"))


class AlertingConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where the alert rules and the routing live, and how often rules are evaluated without new events."""

    enabled: bool = True
    # A directory of rule files (every *.yaml but routing.yaml) or one file. Relative paths are relative to
    # the configuration file's folder (to the working directory without a file).
    rules: str = "alert-rules"
    routing: str = "alert-rules/routing.yaml"
    evaluation_interval_seconds: _Positive = 5.0
    # Run the notifier in this worker (one worker of the group owns it at a time).
    notify: bool = True
    notify_tick_seconds: _Positive = 0.25


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The whole configuration of a driftline worker."""

    kafka: KafkaConfig = msgspec.field(default_factory=KafkaConfig)
    worker: WorkerConfig = msgspec.field(default_factory=WorkerConfig)
    checkpoint: CheckpointConfig = msgspec.field(default_factory=CheckpointConfig)
    metrics: MetricsConfig = msgspec.field(default_factory=MetricsConfig)
    limits: LimitsConfig = msgspec.field(default_factory=LimitsConfig)
    monitoring: MonitoringConfig = msgspec.field(default_factory=MonitoringConfig)
    drift: DriftConfig = msgspec.field(default_factory=DriftConfig)
    quality: QualityConfig = msgspec.field(default_factory=QualityConfig)
    alerting: AlertingConfig = msgspec.field(default_factory=AlertingConfig)

    @classmethod
    def from_mapping(cls, data: Any, source: str = "<config>") -> Config:
        """Validate an already-parsed mapping; errors name ``source`` and the dotted key."""
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
        try:
            return msgspec.convert(data, cls, strict=True)
        except msgspec.ValidationError as exc:
            raise ConfigError(f"{source}: {describe_validation_error(exc)}") from None

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> Config:
        """Load the YAML file at ``path`` (default: $DRIFTLINE_CONFIG, else built-in defaults)."""
        if path is None:
            path = os.environ.get(ENV_CONFIG)
            if not path:
                return cls()
        config = cls.from_mapping(read_yaml(path), source=str(path))
        return config.relative_to(Path(path).parent)

    def relative_to(self, base: Path) -> Config:
        """Relative paths (alert rules, reference files) resolved against ``base`` (the config file's folder)."""
        alerting = msgspec.structs.replace(
            self.alerting, rules=str(base / self.alerting.rules), routing=str(base / self.alerting.routing))
        drift = msgspec.structs.replace(
            self.drift, references={key: str(base / path) for key, path in self.drift.references.items()})
        return msgspec.structs.replace(self, alerting=alerting, drift=drift)


def read_yaml(path: str | os.PathLike[str]) -> Any:
    """Parse a YAML file; errors name the file, and the line where the parser stopped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}{where}: invalid YAML: {problem}") from exc


_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_FIELD = re.compile(r"field `(?P<name>[^`]+)`")


def describe_validation_error(exc: msgspec.ValidationError, root: type = Config) -> str:
    """Turn msgspec's ``Expected `int`, got `str` - at `$.a.b``` into ``a.b: expected int, got str``."""
    match = _AT.match(str(exc))
    assert match is not None  # the pattern matches any string
    message, path = match["msg"], (match["path"] or "")
    key = re.sub(r"\[(\d+)\]", r".\1", path).lstrip(".")
    field = _FIELD.search(message)
    if message.startswith("Object contains unknown field") and field:
        return f"{_join(key, field['name'])}: unknown key"
    if message.startswith("Object missing required field") and field:
        return f"{_join(key, field['name'])}: required key is missing"
    field_type = _field_type(root, key)
    if field_type is not None and Secret in _members(field_type) and message.startswith("Expected"):
        return f"{key}: expected a secret reference, {{env: NAME}} or {{file: PATH}}; secrets are never written inline"
    if message.startswith("Invalid enum value") and field_type is not None:
        choices = [m for m in _members(field_type) if isinstance(m, str)]
        return f"{key}: {message[:1].lower()}{message[1:]}; expected one of {', '.join(choices)}"
    message = message.replace("`", "")
    message = message[:1].lower() + message[1:]
    return f"{key or '(top level)'}: {message}"


def _field_type(root: type, key: str) -> Any:
    """The annotated type of dotted ``key`` under the struct ``root``, or None."""
    current: Any = root
    for part in key.split(".") if key else []:
        hints = typing.get_type_hints(current) if isinstance(current, type) else {}
        if part not in hints:
            struct = next((m for m in _members(current) if isinstance(m, type) and part in typing.get_type_hints(m)), None)
            if struct is None:
                return None
            hints = typing.get_type_hints(struct)
        current = hints[part]
    return current


def _members(annotation: Any) -> list[Any]:
    """The alternatives of a union or the values of a Literal, flattened; else [annotation]."""
    if typing.get_origin(annotation) is Literal:
        return list(typing.get_args(annotation))
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [member for arg in args for member in _members(arg)]
    return [annotation]


def _reason(exc: OSError) -> str:
    """Why a file could not be used, without the path the message names already."""
    return str(getattr(exc, "reason", None) or exc.strerror or exc)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name
