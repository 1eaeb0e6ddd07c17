"""``driftline demo``: an embedded broker, a worker, and a synthetic stream with injected drift.

Two models emit predictions through :mod:`driftline.client`: ``fraud-detector``
(whose ``amount`` and ``country`` drift after ``drift_after`` seconds) and
``churn-model`` (which stays as it is, for contrast). Labels follow a share of
the fraud predictions with a delay, and now and then a malformed event shows the
dead-letter path. Every few seconds the demo reads the worker's /metrics and
prints what the worker sees. Ctrl-C stops the producer, the worker and the
broker, in that order.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from driftline.broker import EmbeddedBroker, free_port, wait_for_port
from driftline.client import AsyncProducer

log = logging.getLogger(__name__)

REPORT_INTERVAL_SECONDS = 5.0
LABEL_DELAY_SECONDS = 3.0


@dataclass
class SyntheticStream:
    """The two demo models' events; ``drifted`` switches fraud-detector's inputs and outcomes to their drifted form."""

    rng: random.Random
    drifted: bool = False
    sequence: int = 0

    def fraud(self) -> tuple[str, dict, int, float]:
        self.sequence += 1
        amount = self.rng.lognormvariate(4.2 if not self.drifted else 4.8, 0.6)
        country = self.rng.choices(["DE", "FR", "US", "GB"], [0.4, 0.3, 0.2, 0.1] if not self.drifted else [0.2, 0.2, 0.5, 0.1])[0]
        age = None if self.rng.random() < 0.03 else round(self.rng.expovariate(1 / 400), 1)
        logit = (amount - 90) / 10 + 0.8 * (country == "US")
        score = 1 / (1 + math.exp(-logit))
        # After the drift the world changed too (concept drift): outcomes follow the features far less than
        # the model believes, so its accuracy drops and its scores are no longer calibrated.
        truth = score if not self.drifted else 1 / (1 + math.exp(-(logit * 0.15 - 0.5)))
        features = {"amount": round(amount, 2), "country": country, "account_age_days": age}
        return f"f{self.sequence}", features, int(self.rng.random() < truth), score

    def churn(self) -> tuple[dict, float]:
        tenure = self.rng.randint(1, 72)
        plan = self.rng.choices(["basic", "pro", "enterprise"], [0.6, 0.3, 0.1])[0]
        spend = round(self.rng.gauss({"basic": 20, "pro": 60, "enterprise": 300}[plan], 5), 2)
        score = 1 / (1 + math.exp(tenure / 12 - 2))
        return {"tenure_months": tenure, "plan": plan, "monthly_spend": spend}, score


class Demo:
    """Runs the demo until Ctrl-C (or ``duration`` seconds); returns the process exit code."""

    def __init__(self, metrics_port: int = 9464, rate: float = 200.0, drift_after: float = 60.0,
                 duration: float | None = None) -> None:
        self.metrics_port = metrics_port
        self.rate = rate
        self.drift_after = drift_after
        self.duration = duration
        self.workdir = Path(tempfile.mkdtemp(prefix="driftline-demo-"))

    def run(self) -> int:
        port = self.metrics_port if _port_free(self.metrics_port) else free_port()
        self.alerts_port = free_port()
        with EmbeddedBroker() as broker:
            print(f"driftline demo: embedded broker (tansu) on {broker.bootstrap_servers}", flush=True)
            config = self._write_config(broker.bootstrap_servers, port)
            worker = self._start_worker(config)
            try:
                wait_for_port("127.0.0.1", port, timeout=60, process=worker)
                print(f"driftline demo: worker metrics on http://127.0.0.1:{port}/metrics", flush=True)
                print(f"driftline demo: producing {self.rate:g} events/s for each of 2 models; drift in "
                      f"fraud-detector's amount and country after {self.drift_after:g} s; Ctrl-C stops", flush=True)
                asyncio.run(self._produce(broker.bootstrap_servers, f"http://127.0.0.1:{port}/metrics"))
            finally:
                print("driftline demo: stopping the worker and the broker", flush=True)
                _stop(worker)
        return 0

    def _write_config(self, bootstrap: str, port: int) -> Path:
        path = self.workdir / "driftline.yaml"
        rules = find_alert_rules()
        alerting: dict[str, object] = {"enabled": False}
        if rules is None:
            print("driftline demo: no alert-rules/ folder here; running without alerts", flush=True)
        else:
            routing = self.workdir / "routing.yaml"
            routing.write_text(yaml.safe_dump(demo_routing(f"http://127.0.0.1:{self.alerts_port}/alerts")))
            alerting = {"rules": str(rules), "routing": str(routing), "evaluation_interval_seconds": 1.0,
                        "notify_tick_seconds": 0.1}
        path.write_text(yaml.safe_dump({
            "kafka": {"bootstrap_servers": bootstrap, "topic_prefix": "driftline", "group_id": "driftline-demo",
                      "partitions": 2},
            "metrics": {"host": "127.0.0.1", "port": port},
            "alerting": alerting,
            # a quick reference: the first 3,000 events of each version (the drift comes later)
            "drift": {"warmup_events": 3000},
        }))
        return path

    def _start_worker(self, config: Path) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "driftline", "worker", "--config", str(config)],
            stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,  # Ctrl-C reaches the demo only; it stops the worker in order
        )

    async def _produce(self, bootstrap: str, metrics_url: str) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        if self.duration is not None:
            loop.call_later(self.duration, stop.set)
        stream = SyntheticStream(random.Random(7))
        started = time.monotonic()
        alerts = await start_alert_printer(self.alerts_port, started)
        async with AsyncProducer(bootstrap, topic_prefix="driftline", client_id="driftline-demo") as producer:
            reporter = asyncio.create_task(self._report(metrics_url, started, stream))
            try:
                await self._emit_until(stop, producer, stream, started)
            finally:
                reporter.cancel()
                await producer.flush(timeout=5)
                await alerts.cleanup()
        dropped = producer.dropped_total
        print(f"driftline demo: produced {stream.sequence} fraud-detector predictions; client dropped {dropped}",
              flush=True)

    async def _emit_until(self, stop: asyncio.Event, producer: AsyncProducer, stream: SyntheticStream,
                          started: float) -> None:
        tick = 0.05
        per_tick = self.rate * tick
        pending_labels: deque[tuple[float, str, int]] = deque()
        carry = 0.0
        while not stop.is_set():
            elapsed = time.monotonic() - started
            if not stream.drifted and elapsed >= self.drift_after:
                stream.drifted = True
                print(f"driftline demo: [{elapsed:5.0f}s] drift injected into fraud-detector (amount, country)",
                      flush=True)
            carry += per_tick
            count, carry = int(carry), carry - int(carry)
            for _ in range(count):
                request_id, features, outcome, score = stream.fraud()
                producer.emit_prediction("fraud-detector", features, int(score > 0.5), model_version="v7",
                                         request_id=request_id, scores={"0": 1 - score, "1": score})
                if stream.rng.random() < 0.5:
                    pending_labels.append((time.monotonic() + LABEL_DELAY_SECONDS, request_id, outcome))
                churn_features, churn_score = stream.churn()
                producer.emit_prediction("churn-model", churn_features, int(churn_score > 0.5), model_version="v2",
                                         scores={"0": 1 - churn_score, "1": churn_score})
            now = time.monotonic()
            while pending_labels and pending_labels[0][0] <= now:
                _, request_id, outcome = pending_labels.popleft()
                producer.emit_label("fraud-detector", request_id, outcome)
            if stream.rng.random() < tick / 10:  # about one malformed event every 10 s
                producer.emit("prediction", {"model_id": "fraud-detector", "ts": "not a time", "features": {},
                                             "prediction": 0})
            try:
                await asyncio.wait_for(stop.wait(), timeout=tick)
            except asyncio.TimeoutError:
                pass

    async def _report(self, metrics_url: str, started: float, stream: SyntheticStream) -> None:
        while True:
            await asyncio.sleep(REPORT_INTERVAL_SECONDS)
            try:
                samples = await asyncio.to_thread(_scrape, metrics_url)
            except OSError as exc:
                print(f"driftline demo: cannot read {metrics_url}: {exc}", flush=True)
                continue
            print(f"driftline demo: [{time.monotonic() - started:5.0f}s] {status_line(samples)}", flush=True)


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def status_line(samples: Samples) -> str:
    """One line of what the worker reports: events, lag and a drifting feature per model, invalid events."""
    def get(name: str, **labels: str) -> float | None:
        return samples.get((name, tuple(sorted(labels.items()))))

    parts = []
    for model, version, feature in (("fraud-detector", "v7", "amount"), ("churn-model", "v2", "monthly_spend")):
        events = get("driftline_events_total", model_id=model, model_version=version, kind="prediction")
        if events is None:
            parts.append(f"{model} {version}: waiting for the worker")
            continue
        lag = get("driftline_event_lag_seconds", model_id=model) or 0.0
        mean = get("driftline_feature_mean", model_id=model, model_version=version, feature=feature)
        mean_text = f"{feature} mean {mean:.1f}" if mean is not None else ""
        parts.append(f"{model} {version}: {events:,.0f} events, lag {lag:.2f} s, {mean_text}")
    labels = get("driftline_events_total", model_id="fraud-detector", model_version="", kind="label") or 0
    invalid = sum(v for (name, _), v in samples.items() if name == "driftline_events_invalid_total")
    parts.append(f"labels {labels:,.0f}, invalid {invalid:,.0f}")
    return " | ".join(parts)


def demo_routing(url: str) -> dict[str, Any]:
    """Every alert to the demo's own webhook receiver, which prints it; no waiting to group."""
    return {
        "route": {"receiver": "demo", "group_by": ["model_id", "model_version", "rule"], "group_wait": "0s",
                  "group_interval": "5s", "repeat_interval": "1h"},
        "receivers": [{"name": "demo", "type": "webhook", "send_resolved": True, "settings": {"url": url}}],
    }


async def start_alert_printer(port: int, started: float) -> web.AppRunner:
    """A webhook receiver on loopback that prints each alert the worker notifies, once per state change.

    A notification carries its whole group (as Alertmanager's do), so alerts already printed are skipped.
    """
    printed: set[tuple[str, str, str]] = set()

    async def receive(request: web.Request) -> web.Response:
        body = await request.json()
        for alert in body.get("alerts", []):
            change = (alert.get("fingerprint"), alert.get("status"), alert.get("starts_at"))
            if change in printed:
                continue
            printed.add(change)
            status = "RESOLVED" if alert.get("status") == "resolved" else "FIRING"
            print(f"driftline demo: [{time.monotonic() - started:5.0f}s] ALERT {status} "
                  f"[{alert.get('severity')}] {alert.get('summary')}", flush=True)
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/alerts", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


def find_alert_rules() -> Path | None:
    """The shipped alert rules: ./alert-rules, else those of the source checkout driftline runs from."""
    for candidate in (Path.cwd() / "alert-rules", Path(__file__).resolve().parents[2] / "alert-rules"):
        if (candidate / "routing.yaml").is_file():
            return candidate
    return None


def _scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text) for sample in family.samples
    }


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _stop(process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
