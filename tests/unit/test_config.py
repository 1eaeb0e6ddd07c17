"""Configuration: typed, validated at start, errors that name the file and the key."""

from __future__ import annotations

import pytest

from driftline.config import Config, Secret
from driftline.error import ConfigError


def write(tmp_path, text: str):
    path = tmp_path / "driftline.yaml"
    path.write_text(text)
    return path


def test_defaults_without_a_file(monkeypatch):
    monkeypatch.delenv("DRIFTLINE_CONFIG", raising=False)
    config = Config.load()
    assert config.kafka.topic_prefix == "driftline"
    assert config.kafka.session_timeout_seconds == 6.0
    assert config.limits.max_message_bytes == 1024 * 1024 and config.limits.max_features == 1000


def test_a_full_file_loads(tmp_path):
    path = write(tmp_path, """
kafka:
  bootstrap_servers: [broker-1:9092, broker-2:9092]
  topic_prefix: prod.monitoring
  security_protocol: SASL_SSL
  sasl_mechanism: SCRAM-SHA-512
  sasl_username: driftline
  sasl_password: {env: KAFKA_PASSWORD}
metrics: {host: 0.0.0.0, port: 9500}
limits: {max_features: 50}
""")
    config = Config.load(path)
    assert config.kafka.servers == ["broker-1:9092", "broker-2:9092"]
    assert config.metrics.port == 9500 and config.limits.max_features == 50


def test_config_path_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DRIFTLINE_CONFIG", str(write(tmp_path, "kafka: {topic_prefix: from-env}\n")))
    assert Config.load().kafka.topic_prefix == "from-env"


def test_comma_separated_servers():
    config = Config.from_mapping({"kafka": {"bootstrap_servers": "a:1, b:2"}})
    assert config.kafka.servers == ["a:1", "b:2"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kafka: {partitions: lots}\n", "kafka.partitions: expected int, got str"),
        ("kafka: {partitions: 0}\n", "kafka.partitions: expected int >= 1"),
        ("metrics: {port: 70000}\n", "metrics.port: expected int <= 65535"),
        ("kafka: {bootstrap_server: x}\n", "kafka.bootstrap_server: unknown key"),
        ("kafak: {}\n", "kafak: unknown key"),
        ("kafka: {topic_prefix: 'has space'}\n", "kafka.topic_prefix: expected str matching regex"),
        ("kafka: {security_protocol: TLS}\n", "kafka.security_protocol: invalid enum value 'TLS'; expected one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"),
        ("kafka: {security_protocol: SASL_PLAINTEXT}\n", "needs sasl_mechanism, sasl_username and sasl_password"),
        ("kafka: {sasl_password: hunter2}\n", "kafka.sasl_password: expected a secret reference, {env: NAME} or {file: PATH}"),
        ("kafka: {sasl_password: {env: A, file: B}}\n", "exactly one of them"),
        ("kafka: {session_timeout_seconds: 3, heartbeat_interval_seconds: 2}\n", "at most a third"),
        ("- a list\n", "expected a mapping at the top level"),
    ],
)
def test_errors_name_the_file_the_key_and_what_was_expected(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        Config.load(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


def test_yaml_syntax_errors_name_the_line(tmp_path):
    path = write(tmp_path, "kafka:\n  partitions: [1,\n")
    with pytest.raises(ConfigError, match=rf"^{path} \(line \d+, column \d+\): invalid YAML"):
        Config.load(path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        Config.load(tmp_path / "nope.yaml")


def test_empty_file_is_the_defaults(tmp_path):
    assert Config.load(write(tmp_path, "")) == Config().relative_to(tmp_path)


def test_alerting_paths_are_relative_to_the_config_file(tmp_path):
    config = Config.load(write(tmp_path, "alerting: {rules: rules, routing: /abs/routing.yaml}\n"))
    assert config.alerting.rules == str(tmp_path / "rules")
    assert config.alerting.routing == "/abs/routing.yaml"


def test_secrets_come_from_env_or_file_and_never_show_in_reprs(tmp_path, monkeypatch):
    monkeypatch.setenv("KAFKA_PASSWORD", "s3cr3t-from-env")
    secret_file = tmp_path / "password"
    secret_file.write_text("s3cr3t-from-file\n")
    by_env, by_file = Secret(env="KAFKA_PASSWORD"), Secret(file=str(secret_file))
    assert by_env.reveal() == "s3cr3t-from-env" and by_file.reveal() == "s3cr3t-from-file"
    config = Config.from_mapping({"kafka": {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
                                            "sasl_username": "u", "sasl_password": {"env": "KAFKA_PASSWORD"}}})
    assert "s3cr3t" not in repr(config) and "KAFKA_PASSWORD" in repr(config)


def test_unset_secret_names_its_source_not_a_value(monkeypatch):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    with pytest.raises(ConfigError, match="environment variable NOT_SET_ANYWHERE is not set"):
        Secret(env="NOT_SET_ANYWHERE").reveal()
