"""Prometheus for tests: driftline's rule files and their thresholds, the PromQL of the dashboards,
a real Prometheus process on loopback, and a drifting stream for it to scrape.

Used by tests/unit/test_prometheus_rules.py and test_dashboards.py (static), tests/e2e/test_dashboards.py
(a real Prometheus scraping a real worker) and scripts/render-dashboards (the pictures in docs/img/).
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from driftline.broker import free_port
from driftline.client import Producer
from driftline.demo import SyntheticStream
from tests.support import compose
from tests.support.fakes.smtp import SmtpServer
from tests.support.kafka import REPO, create_topics, wait_until
from tests.support.worker import WorkerProcess, worker_config

RULES_DIR = REPO / "alert-rules" / "prometheus"
DRIFTLINE_RULES_DIR = REPO / "alert-rules"
METRICS_DOC = REPO / "docs" / "metrics.md"
SEVERITIES = ("critical", "error", "warning", "info")
INPUTS = ("predictions", "features", "labels")  # the input topics, after the prefix
DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def seconds(duration: str) -> float:
    """``1h30m`` -> 5400.0 (Prometheus' and driftline's duration syntax)."""
    parts = DURATION.findall(str(duration))
    assert parts and "".join(n + u for n, u in parts) == str(duration).replace(" ", ""), f"not a duration: {duration!r}"
    return sum(float(n) * UNIT_SECONDS[u] for n, u in parts)


# ---------------------------------------------------------------- the metrics of docs/metrics.md


@functools.cache
def documented_metrics() -> dict[str, frozenset[str]]:
    """Every series name docs/metrics.md documents, with its labels (histograms: _bucket, _sum, _count)."""
    found: dict[str, frozenset[str]] = {}
    row = re.compile(r"^\|\s*`(driftline_\w+)`\s*\|\s*(\w+)\s*\|([^|]*)\|")
    for line in METRICS_DOC.read_text(encoding="utf-8").splitlines():
        match = row.match(line)
        if not match:
            continue
        name, kind, labels = match[1], match[2], frozenset(re.findall(r"`(\w+)`", match[3]))
        if kind == "histogram":
            found.update({f"{name}_bucket": labels | {"le"}, f"{name}_sum": labels, f"{name}_count": labels})
        else:
            found[name] = labels
    return found


# ---------------------------------------------------------------- PromQL selectors


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str  # =, !=, =~, !~
    value: str


@dataclass(frozen=True)
class Selector:
    metric: str
    matchers: tuple[Matcher, ...]

    def on(self, label: str) -> list[Matcher]:
        return [m for m in self.matchers if m.label == label]


_SELECTOR = re.compile(r"\b(driftline_\w+)\s*(\{[^}]*\})?")
_MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')


def selectors(expr: str) -> list[Selector]:
    """The driftline_* vector selectors of a PromQL expression, with their label matchers."""
    return [Selector(metric, tuple(Matcher(*m) for m in _MATCHER.findall(body or "")))
            for metric, body in _SELECTOR.findall(expr)]


def pins(selector: Selector, label: str, pattern: str) -> bool:
    """True if the selector only lets through values of ``label`` that fully match ``pattern``."""
    for matcher in selector.on(label):
        if matcher.op == "=" and re.fullmatch(pattern, matcher.value):
            return True
        if matcher.op == "=~" and (matcher.value == pattern or all(
                re.fullmatch(pattern, alternative) for alternative in matcher.value.split("|"))):
            return True
    return False


# ---------------------------------------------------------------- rules: Prometheus' and driftline's own


def prometheus_rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.yml"))


def prometheus_rule_tests() -> list[Path]:
    return sorted((RULES_DIR / "tests").glob("*.yml"))


def prometheus_alerts() -> list[dict[str, Any]]:
    """Every alerting rule of alert-rules/prometheus/*.yml, with the file it is in as ``_file``."""
    found = []
    for path in prometheus_rule_files():
        for group in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("groups") or []:
            found.extend({**rule, "_file": path.name} for rule in group.get("rules") or [] if "alert" in rule)
    return found


def driftline_rules() -> dict[str, dict[str, Any]]:
    """driftline's own rules (alert-rules/*.yaml but routing.yaml), by name."""
    found = {}
    for path in sorted(DRIFTLINE_RULES_DIR.glob("*.yaml")):
        if path.name != "routing.yaml":
            for rule in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("rules") or []:
                found[rule["name"]] = {**rule, "_file": path.name}
    return found


@dataclass(frozen=True)
class Threshold:
    fire: float
    resolve: float | None = None

    @property
    def values(self) -> set[float]:
        return {self.fire} | ({self.resolve} if self.resolve is not None else set())


def driftline_threshold(rule: dict[str, Any]) -> Threshold:
    """Where a driftline rule fires (and resolves): a detector fires at statistic / threshold = 1."""
    condition, resolve = rule["condition"], rule.get("resolve") or {}
    back = resolve.get("below", resolve.get("above"))
    if "above" in condition or "below" in condition:
        return Threshold(float(condition.get("above", condition.get("below"))), back)
    if "differs" in condition:
        return Threshold(float(condition["differs"]["by"]), back)
    if "compare_versions" in condition:
        return Threshold(float(condition["compare_versions"]["by"]), back)
    if "absent_for" in condition:
        return Threshold(seconds(condition["absent_for"]))
    if condition.get("detector_fired"):
        return Threshold(1.0)
    raise AssertionError(f"rule {rule['name']}: no threshold in condition {condition}")


_COMPARISON = re.compile(r"(==|!=|>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)\s*$")


def prometheus_threshold(expr: str) -> tuple[str, float]:
    """The comparison that ends an alert expression: ``... > 0.25`` -> ('>', 0.25)."""
    match = _COMPARISON.search(expr.strip())
    assert match, f"the expression does not end in a comparison with a number: {expr.strip()}"
    return match[1], float(match[2])


# ---------------------------------------------------------------- the dashboards' queries


@dataclass(frozen=True)
class Query:
    dashboard: str
    panel: str
    panel_type: str
    ref_id: str
    expr: str
    instant: bool
    legend: str

    @property
    def where(self) -> str:
        return f"{self.dashboard} / {self.panel} / {self.ref_id}"


def dashboard_queries(name: str, dashboard: dict[str, Any]) -> list[Query]:
    """Every PromQL query of every data panel of a dashboard."""
    return [Query(name, panel.get("title", "?"), panel.get("type", "?"), target.get("refId", "?"),
                  target.get("expr", ""), bool(target.get("instant")) and not target.get("range"),
                  target.get("legendFormat", ""))
            for panel in compose.data_panels(dashboard) for target in panel.get("targets") or []]


def annotation_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(name, expr) of the dashboard's Prometheus annotations."""
    return [(a.get("name", "?"), a["expr"]) for a in (dashboard.get("annotations") or {}).get("list") or []
            if a.get("expr")]


_LABEL_VALUES = re.compile(r"^label_values\((?:(.*),\s*)?(\w+)\)$", re.DOTALL)


def substitute(text: str, values: dict[str, str]) -> str:
    """Grafana's variable syntax (``$name``, ``${name}``, ``[[name]]``) with ``values``; longest names first."""
    for name in sorted(values, key=len, reverse=True):
        text = text.replace("${" + name + "}", values[name]).replace("[[" + name + "]]", values[name])
        text = re.sub(re.escape("$" + name) + r"(?!\w)", lambda _: values[name], text)
    return text


def grafana_builtins(scrape_interval_seconds: float, range_seconds: float) -> dict[str, str]:
    """Grafana's interval variables as it sets them for a data source whose timeInterval is the scrape interval.

    Whole seconds, as Grafana rounds them (and as Prometheus 2.42 requires of a range).
    """
    scrape, whole = max(1, round(scrape_interval_seconds)), max(1, round(range_seconds))
    return {"__rate_interval": f"{4 * scrape}s", "__interval": f"{scrape}s", "__range": f"{whole}s",
            "__range_s": f"{whole}"}


def resolve_variables(prometheus: PrometheusProcess, dashboard: dict[str, Any],
                      chosen: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Each query variable's value as Grafana sets it by default: All for multi-value ones, else ``chosen`` or the first.

    Each variable's label_values() query runs against ``prometheus`` with the variables before it
    substituted; a variable without values, or without the chosen one, is a problem.
    """
    values: dict[str, str] = {}
    problems = []
    for name, var in compose.variables(dashboard).items():
        if var.get("type") != "query":
            continue
        query = compose.variable_query(var)
        options = prometheus.label_values(substitute(query, values))
        if not options:
            problems.append(f"{name}: {query} has no values")
        elif var.get("multi") and var.get("includeAll"):
            values[name] = var.get("allValue") or "(" + "|".join(re.escape(o) for o in options) + ")"
        elif name in chosen:
            if chosen[name] not in options:
                problems.append(f"{name}: {chosen[name]} is not among {options}")
            values[name] = chosen[name]
        else:
            values[name] = options[0]
    return values, problems


# ---------------------------------------------------------------- a real Prometheus


class PrometheusProcess:
    """The ``prometheus`` binary on 127.0.0.1 with ``config``, its TSDB in ``workdir``; an HTTP API client."""

    def __init__(self, config: dict[str, Any], workdir: Path) -> None:
        self.binary = shutil.which("prometheus")
        self.workdir = workdir
        self.config_path = workdir / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        self.log_path = workdir / "prometheus.log"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> PrometheusProcess:
        assert self.binary, "prometheus is not on PATH (scripts/install-prometheus installs Debian's)"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [self.binary, f"--config.file={self.config_path}", f"--storage.tsdb.path={self.workdir / 'tsdb'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.workdir)
        wait_until(self._ready, timeout=30, what=f"Prometheus ready at {self.url}\n{self.log_tail()}")
        return self

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"prometheus exited with {self.process.returncode}:\n{self.log_tail()}")
        with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
            return response.status == 200

    def api(self, path: str, **params: Any) -> Any:
        """GET /api/v1/<path>; the ``data`` of a successful answer (list parameters repeat).

        A 4xx answer (a query Prometheus cannot parse, say) raises AssertionError, which ``wait_until``
        does not retry: polling cannot fix a broken query.
        """
        query = urllib.parse.urlencode(params, doseq=True)
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=10) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if 400 <= exc.code < 500:
                raise AssertionError(f"Prometheus rejects {path} {params}: {exc.read().decode(errors='replace')}") from exc
            raise
        assert body.get("status") == "success", f"{path} {params}: {body}"
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        return self.api("query", **params)["result"]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        return self.api("query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}", step=f"{step:g}")["result"]

    def label_values(self, definition: str) -> list[str]:
        """The values of a Grafana ``label_values([selector,] label)`` variable query."""
        match = _LABEL_VALUES.match(definition.strip())
        assert match, f"not a label_values() query: {definition}"
        params = {"match[]": match[1]} if match[1] else {}
        return sorted(self.api(f"label/{match[2]}/values", **params))

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def stack_prometheus_config(metrics_port: int, scrape_interval_seconds: float) -> dict[str, Any]:
    """The compose stack's deploy/prometheus/prometheus.yml, pointed at a worker on loopback.

    Only what cannot be the same outside Docker changes: the driftline job scrapes 127.0.0.1 instead
    of the compose service, the rule files are read where the repository has them, and scraping and
    rule evaluation run every ``scrape_interval_seconds`` so that a test needs seconds, not minutes.
    """
    config = json.loads(json.dumps(compose.prometheus_config()))  # a deep copy
    interval = f"{scrape_interval_seconds:g}s"
    config["global"] = {**(config.get("global") or {}), "scrape_interval": interval, "evaluation_interval": interval}
    config["rule_files"] = [str(compose.mount_source(compose.service(compose.PROMETHEUS), pattern) or pattern)
                            for pattern in config.get("rule_files") or []]
    for job in config.get("scrape_configs") or []:
        job["scrape_interval"] = interval
        if job["job_name"] == "driftline":
            job.pop("dns_sd_configs", None)
            job["static_configs"] = [{"targets": [f"127.0.0.1:{metrics_port}"]}]
        elif job["job_name"] == "prometheus":
            job["static_configs"] = []  # its own port is not 9090 here
    return config


# ---------------------------------------------------------------- a drifting stream, monitored and scraped

LABEL_DELAY_SECONDS = 1.0  # from a prediction to its label, in both producers
SEGMENTS = {"*": "country"}  # quality.segments of the stack's worker: fraud-detector's countries (churn-model has none)
CHALLENGER = ("fraud-detector", "v8")  # beside deploy/demo_producer.py's fraud-detector v7


class ChallengerProducer:
    """A second version of the demo's fraud-detector, beside deploy/demo_producer.py's v7: a challenger.

    v8 sees traffic like v7's (its own draw of :class:`driftline.demo.SyntheticStream`, which drifts
    ``drift_after`` seconds after :meth:`start`, as v7's does) but decides at a lower amount, so it is
    about 0.06 less accurate (0.85 against v7's 0.91 before the drift, 0.63 against 0.66 after): the
    versions' comparison has a gap to show, and ``version_accuracy_trails`` something to find. Half of its
    predictions get a label ``label_delay`` seconds later. It runs in a thread with driftline's
    synchronous :class:`~driftline.client.Producer`; a failure is kept in ``error`` and logged to ``log_path``.
    """

    TICK_SECONDS = 0.05
    DECISION_AMOUNT = 72.0  # v7 (the demo stream's own score) decides at 90

    def __init__(self, bootstrap: str, prefix: str, *, rate: float, drift_after: float, label_delay: float,
                 log_path: Path, seed: int = 11) -> None:
        self.bootstrap, self.prefix, self.rate = bootstrap, prefix, rate
        self.drift_after, self.label_delay, self.log_path = drift_after, label_delay, log_path
        self.stream, self.rng = SyntheticStream(random.Random(seed)), random.Random(seed + 1)
        self.error: Exception | None = None
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="challenger-producer", daemon=True)

    def start(self) -> ChallengerProducer:
        self._thread.start()
        return self

    def score(self, features: dict[str, Any]) -> float:
        logit = (features["amount"] - self.DECISION_AMOUNT) / 10 + 0.8 * (features["country"] == "US")
        return 1 / (1 + math.exp(-logit))

    def _run(self) -> None:
        model_id, version = CHALLENGER
        try:
            with Producer(self.bootstrap, topic_prefix=self.prefix, client_id="challenger-producer") as producer:
                started = time.monotonic()
                labels: deque[tuple[float, str, int]] = deque()  # (due, request id, outcome), in due order
                carry = 0.0
                while not self._stop.wait(self.TICK_SECONDS):  # paces the stream; stop() ends it at once
                    now = time.monotonic()
                    self.stream.drifted = now - started >= self.drift_after
                    carry += self.rate * self.TICK_SECONDS
                    count, carry = int(carry), carry - int(carry)
                    for _ in range(count):
                        request_id, features, outcome, _ = self.stream.fraud()
                        request_id = f"{version}-{request_id}"
                        score = self.score(features)
                        producer.emit_prediction(model_id, features, int(score > 0.5), model_version=version,
                                                 request_id=request_id, scores={"0": 1 - score, "1": score})
                        self.sent += 1
                        if self.rng.random() < 0.5:
                            labels.append((now + self.label_delay, request_id, outcome))
                    while labels and labels[0][0] <= now:
                        _, request_id, outcome = labels.popleft()
                        producer.emit_label(model_id, request_id, outcome)
                producer.flush(timeout=5)
        except Exception as exc:  # kept for logs(): the thread must not die silently
            self.error = exc
            with self.log_path.open("a") as log:
                log.write(f"challenger producer failed after {self.sent} predictions: {exc!r}\n")

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join(30)


class DriftingStack:
    """A worker on a real broker fed by deploy/demo_producer.py, alerting through deploy/routing.yaml, scraped by Prometheus.

    The routing's email receivers are pointed at an SMTP server on loopback (Mailpit's role in the compose
    stack) and notify at once; drift is calibrated on each version's first ``warmup_events`` events, and
    fraud-detector drifts ``drift_after`` seconds after the producer starts. Beside the demo's v7, a
    :class:`ChallengerProducer` sends fraud-detector v8 at half the rate, so that the dashboards have two
    versions with labels to compare; the worker computes quality per country (``quality.segments``).
    """

    def __init__(self, bootstrap: str, prefix: str, workdir: Path | None = None, *, rate: float = 300.0,
                 drift_after: float = 8.0, warmup_events: int = 400, scrape_interval_seconds: float = 1.0) -> None:
        self.bootstrap, self.prefix = bootstrap, prefix
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="driftline-stack-"))
        self.rate, self.drift_after, self.warmup_events = rate, drift_after, warmup_events
        self.scrape_interval_seconds = scrape_interval_seconds
        self.smtp = SmtpServer()
        self._smtp_started = False
        self.worker: WorkerProcess | None = None
        self.prometheus: PrometheusProcess | None = None
        self.producer: subprocess.Popen[bytes] | None = None
        self.producer_log = self.workdir / "producer.log"
        self.challenger: ChallengerProducer | None = None
        self.challenger_log = self.workdir / "challenger.log"
        self.started_at = 0.0

    def start(self) -> DriftingStack:
        try:
            asyncio.run(self.smtp.__aenter__())  # its Controller serves from a thread of its own
            self._smtp_started = True
            routing = self.workdir / "routing.yaml"
            routing.write_text(yaml.safe_dump(self.routing()), encoding="utf-8")
            config = worker_config(
                self.bootstrap, self.prefix,
                alerting={"rules": str(DRIFTLINE_RULES_DIR), "routing": str(routing),
                          "evaluation_interval_seconds": 1.0, "notify_tick_seconds": 0.1},
                drift={"warmup_events": self.warmup_events}, quality={"segments": SEGMENTS})
            # The worker does not create its input topics, and one created later by a producer (labels come
            # seconds after predictions) would reach it only at its next metadata refresh, minutes later.
            # As the compose stack's `topics` service does, create them first.
            asyncio.run(create_topics(self.bootstrap, [f"{self.prefix}.{kind}" for kind in INPUTS],
                                      partitions=config["kafka"]["partitions"]))
            self.worker = WorkerProcess(config, self.workdir)  # assigned before it starts: stop() ends it on failure
            self.worker.start()
            self.prometheus = PrometheusProcess(
                stack_prometheus_config(config["metrics"]["port"], self.scrape_interval_seconds), self.workdir)
            self.prometheus.start()
            self.started_at = time.time()
            with self.producer_log.open("ab") as log:
                self.producer = subprocess.Popen(
                    [sys.executable, str(REPO / "deploy" / "demo_producer.py"), "--bootstrap", self.bootstrap,
                     "--topic-prefix", self.prefix, "--rate", f"{self.rate:g}", "--drift-after", f"{self.drift_after:g}",
                     "--label-delay", f"{LABEL_DELAY_SECONDS:g}", "--invalid-every", "2"],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            self.challenger = ChallengerProducer(
                self.bootstrap, self.prefix, rate=self.rate / 2, drift_after=self.drift_after,
                label_delay=LABEL_DELAY_SECONDS, log_path=self.challenger_log).start()
        except BaseException:
            self.stop()
            raise
        return self

    def routing(self) -> dict[str, Any]:
        """deploy/routing.yaml with its email receivers at the loopback SMTP server, grouping without waits."""
        routing = yaml.safe_load((REPO / "deploy" / "routing.yaml").read_text(encoding="utf-8"))
        routing["route"].update(group_wait="0s", group_interval="1s")
        for receiver in routing["receivers"]:
            if receiver["type"] == "email":
                receiver["settings"].update(host=self.smtp.host, port=self.smtp.port)
        return routing

    def logs(self) -> str:
        producer = self.producer_log.read_text(errors="replace") if self.producer_log.exists() else ""
        parts = [f"--- producer\n{producer[-3000:]}"]
        if self.challenger is not None:
            failure = self.challenger_log.read_text(errors="replace") if self.challenger_log.exists() else ""
            parts.append(f"--- challenger: {self.challenger.sent} predictions sent\n{failure}")
        if self.worker is not None:
            parts.append(f"--- worker\n{self.worker.log_tail()}")
        if self.prometheus is not None:
            parts.append(f"--- prometheus\n{self.prometheus.log_tail()}")
        return "\n".join(parts)

    def stop(self) -> None:
        if self.challenger is not None:
            self.challenger.stop()
        if self.producer is not None and self.producer.poll() is None:
            self.producer.send_signal(signal.SIGTERM)
            try:
                self.producer.wait(20)
            except subprocess.TimeoutExpired:
                self.producer.kill()
                self.producer.wait()
        if self.prometheus is not None:
            self.prometheus.stop()
        try:
            if self.worker is not None:
                self.worker.stop()
        finally:
            if self._smtp_started:
                asyncio.run(self.smtp.__aexit__(None, None, None))
                self._smtp_started = False

    def __enter__(self) -> DriftingStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
