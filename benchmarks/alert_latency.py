"""End-to-end alert latency and alert-storm throughput of a real worker process, in one run.

    .venv/bin/python benchmarks/alert_latency.py [--alerts 200] [--storm 1000] [--kafka tansu|apache]

The wiring is that of ``tests/e2e/test_alerting.py``: a real broker (the embedded Tansu
broker by default, Apache Kafka with ``--kafka apache``), ``driftline worker`` as a
subprocess, and fakes at the network edge on loopback: Slack (incoming webhook),
PagerDuty Events API v2 over TLS (a throw-away CA), a signed generic webhook and a real
SMTP server (aiosmtpd). One rule, no ``for``::

    lag_high: consumer_lag_seconds above 600, severity error

routed with ``group_by: [model_id, rule]`` and ``group_wait: 0s`` to all four receivers,
so that every model's alert is a group of its own and goes out at the notifier's next
tick. A prediction batch stamped an hour ago for model ``m`` makes ``m``'s lag 3,600 s:
its alert fires.

1. **Latency**: ``--alerts`` models, one batch each, sent one by one ``--gap`` seconds
   apart (so they are independent); ``t0`` is taken just before each produce call (one
   long-lived producer, acks=all). Per receiver: p50/p90/p99/max of the time from ``t0``
   to the notification's arrival at the fake, in seconds. The alert records the worker
   writes to ``<prefix>.alerts`` are read too, and their broker timestamps (CreateTime,
   set by the worker's producer, same clock) split the latency into *worker* (produce ->
   alert record written: fetch, micro-batch, rule evaluation) and *notifier* (alert
   record -> arrival: fetch of the alerts topic, dispatch, pipeline, the channel's
   request). Baselines: one broker hop (produce -> a plain aiokafka consumer) with the
   notifier's ``fetch_max_wait_ms`` (500, aiokafka's default) and with faust's (1500).
2. **Storm**: ``--storm`` models' crossing batches produced in one go; per receiver the
   notifications per second until the last one arrived, how bursty the arrivals were,
   the CPU the worker, the broker and this process used meanwhile, and a check that
   every alert arrived exactly once (distinct fingerprints per receiver, PagerDuty's
   distinct dedup_keys, equality with the expected set).

Arrival times: the fakes record what they accept in ``received``; here that list is a
subclass that stamps ``time.time()`` on every append (the SMTP server appends from its
own thread). The input topics and the alerts topic are created before the worker starts,
with the partitions the worker declares (2 and 1), so that the layout does not depend on
which client makes the broker auto-create them.

Exit status 1 if any alert was missing, duplicated or unexpected at any receiver, if a
phase hit its deadline, or if the worker's notifier task died (its log is watched).
``--keep`` keeps the working directory (worker log and configuration). The default run
takes about a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import yaml  # noqa: E402
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: E402

from driftline.alerting.model import fingerprint  # noqa: E402
from driftline.broker import EmbeddedBroker  # noqa: E402
from tests.support.fakes.pagerduty import FakePagerDuty  # noqa: E402
from tests.support.fakes.slack import HOOK, FakeSlack  # noqa: E402
from tests.support.fakes.smtp import SmtpServer  # noqa: E402
from tests.support.fakes.tls import ThrowawayCA  # noqa: E402
from tests.support.fakes.webhook import FakeWebhookReceiver  # noqa: E402
from driftline.events.topic import TopicNames  # noqa: E402
from tests.support.alerting import LAG_RULE, RECEIVERS, ROUTING_KEY, fanout_routing  # noqa: E402
from tests.support.alerting import rules as alert_rules  # noqa: E402
from tests.support.kafka import ApacheKafka, create_topics  # noqa: E402
from tests.support.worker import WorkerProcess, worker_config  # noqa: E402

RULE = "lag_high"
SIGNING_SECRET = "bench-webhook-signing-s3cret"
RULES = alert_rules(LAG_RULE)
MODEL_RE = re.compile(r"\b((?:warmup|lat|storm)-\d{5})\b")
EVENTS_PER_BATCH = 5


# --------------------------------------------------------------------------- timed fakes

class Arrivals(list):
    """``received`` of a fake, with the wall-clock time of every append in ``times``."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []
        self._lock = threading.Lock()

    def append(self, item: Any) -> None:
        now = time.time()
        with self._lock:
            self.times.append(now)
            super().append(item)

    def snapshot(self) -> list[tuple[float, Any]]:
        with self._lock:
            return list(zip(self.times, self))


# --------------------------------------------------------------------------- what arrived

@dataclass
class Seen:
    """Firing notifications per alert fingerprint at one receiver."""

    arrivals: dict[str, list[float]] = field(default_factory=dict)
    other: int = 0  # resolves, or anything that names no alert of ours

    def add(self, fp: str, t: float) -> None:
        self.arrivals.setdefault(fp, []).append(t)

    def first(self, fp: str) -> float | None:
        times = self.arrivals.get(fp)
        return min(times) if times else None


class Observer:
    """Parses what each fake received into fingerprints with arrival times."""

    def __init__(self, fakes: dict[str, Any], model_fp: Callable[[str], str]) -> None:
        self.fakes = fakes
        self.model_fp = model_fp

    def seen(self) -> dict[str, Seen]:
        return {name: self._parse(name, self.fakes[name].received.snapshot()) for name in RECEIVERS}

    def _parse(self, name: str, items: list[tuple[float, Any]]) -> Seen:
        seen = Seen()
        for t, item in items:
            if name == "pagerduty":
                if item.get("event_action") == "trigger" and item.get("dedup_key"):
                    seen.add(item["dedup_key"], t)
                else:
                    seen.other += 1
            elif name == "webhook":
                body = json.loads(item.body)
                firing = [a for a in body.get("alerts", []) if a.get("status") == "firing"]
                for alert in firing:
                    seen.add(alert["fingerprint"], t)
                seen.other += len(body.get("alerts", [])) - len(firing)
            else:
                if name == "slack":
                    text = json.dumps({"text": item.text, "blocks": item.blocks})
                    firing = bool(item.blocks) and "FIRING" in json.dumps(item.blocks[0])
                else:
                    text = str(item.message["Subject"])
                    firing = text.startswith("[FIRING")
                models = set(MODEL_RE.findall(text))
                if firing and models:
                    for model in models:
                        seen.add(self.model_fp(model), t)
                else:
                    seen.other += 1
        return seen

    def complete(self, expected: set[str]) -> bool:
        seen = self.seen()
        return all(expected <= set(s.arrivals) for s in seen.values())


# --------------------------------------------------------------------------- the alerts topic

class Follower:
    """Reads every partition of a topic from its beginning, as a plain aiokafka consumer.

    Per record key: the broker timestamp (CreateTime, set by whoever produced it) and the time
    this consumer got it. Used on ``<prefix>.alerts`` (when did the worker write each firing
    record) and on ``<prefix>.predictions`` with aiokafka's default ``fetch_max_wait_ms`` --
    the notifier's setting -- as a baseline for one broker hop.
    """

    def __init__(self, bootstrap: str, topic: str, fetch_max_wait_ms: int = 500,
                 key_of: Callable[[Any], str | None] | None = None) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.key_of = key_of or (lambda record: record.key.decode() if record.key else None)
        self.records: dict[str, list[tuple[float, float]]] = {}
        self.partitions = 0
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def start(self) -> Follower:
        self._consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                          auto_offset_reset="earliest", fetch_max_wait_ms=self.fetch_max_wait_ms)
        await self._consumer.start()
        # Every partition: the notifier assumes one, but a broker that auto-creates the topic first may give it more.
        partitions: set[int] | None = None
        deadline = time.monotonic() + 30
        while not partitions:
            await self._consumer._client.force_metadata_update()
            partitions = self._consumer.partitions_for_topic(self.topic)
            if not partitions and time.monotonic() > deadline:
                raise RuntimeError(f"topic {self.topic} has no partitions after 30 s")
            await asyncio.sleep(0.05)
        self.partitions = len(partitions)
        assigned = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        self._consumer.assign(assigned)
        await self._consumer.seek_to_beginning(*assigned)
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        while not self._stop.is_set():
            batch = await self._consumer.getmany(timeout_ms=200)
            now = time.time()
            for records in batch.values():
                for record in records:
                    key = self.key_of(record)
                    if key is not None:
                        self.records.setdefault(key, []).append((record.timestamp / 1000, now))

    def written(self, key: str) -> float | None:
        """The broker timestamp of the first record with ``key``."""
        times = self.records.get(key)
        return min(t for t, _ in times) if times else None

    def received(self, key: str) -> float | None:
        """When this consumer got the first record with ``key``."""
        times = self.records.get(key)
        return min(t for _, t in times) if times else None

    def count(self, key: str) -> int:
        return len(self.records.get(key, []))

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=5)
            except (asyncio.TimeoutError, Exception):
                self._task.cancel()
        await self._consumer.stop()


def firing_fingerprint(record: Any) -> str | None:
    value = json.loads(record.value)
    return value["fingerprint"] if value.get("status") == "firing" else None


# --------------------------------------------------------------------------- helpers

def batch(model: str, ts: float) -> bytes:
    events = [{"model_id": model, "model_version": "v1", "ts": ts + i * 0.001, "features": {"x": 1.0},
               "prediction": 1} for i in range(EVENTS_PER_BATCH)]
    return json.dumps({"events": events}).encode()


def model_fp(model: str) -> str:
    return fingerprint(RULE, {"model_id": model})


async def wait_until(check: Callable[[], bool], deadline: float, interval: float = 0.05,
                     abort: Callable[[], bool] | None = None) -> bool:
    """Poll ``check`` until it holds, the monotonic ``deadline`` passes or ``abort()``; returns whether it held."""
    while True:
        if check():
            return True
        if time.monotonic() > deadline or (abort is not None and abort()):
            return False
        await asyncio.sleep(interval)


class LogWatch:
    """Reads the worker's log as it grows; notices when the notifier task has died."""

    DEAD = "notifier stopped with an error"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self.lines: list[str] = []
        self.dead_at: float | None = None

    def poll(self) -> None:
        try:
            with self.path.open("rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except OSError:
            return
        end = chunk.rfind(b"\n") + 1
        self._offset += end
        new = chunk[:end].decode(errors="replace").splitlines()
        if self.dead_at is None and any(self.DEAD in line for line in new):
            self.dead_at = time.time()
        self.lines.extend(new)

    def notifier_dead(self) -> bool:
        self.poll()
        return self.dead_at is not None

    def summary(self) -> list[str]:
        """Warnings and errors, similar ones counted together; a traceback's last line with its error."""
        self.poll()
        counts: dict[str, int] = {}
        for i, line in enumerate(self.lines):
            if " WARNING " not in line and " ERROR " not in line:
                continue
            text = re.sub(r"^\S+ \S+ ", "", line)
            text = re.sub(r"\d+(\.\d+)?s\b", "Ns", re.sub(r"attempt \d+", "attempt N", text))
            if i + 1 < len(self.lines) and self.lines[i + 1].startswith("Traceback"):
                tail = next((t for t in self.lines[i + 2:i + 80] if t and not t.startswith(" ")), "")
                text += f" -- {tail}"
            counts[text] = counts.get(text, 0) + 1
        return [f"{n:>5} x {text[:400]}" for text, n in counts.items()]


def process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a process (all its threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_now(worker_pid: int | None, broker_pid: int | None) -> dict[str, float]:
    cpu = {"worker": process_cpu(worker_pid) if worker_pid else None,
           "broker": process_cpu(broker_pid) if broker_pid else None,
           "this process (fakes, producer, followers)": time.process_time()}
    return {k: v for k, v in cpu.items() if v is not None}


def pct(values: list[float]) -> dict[str, float]:
    if not values:
        return {k: float("nan") for k in ("n", "p50", "p90", "p99", "max", "mean")}
    a = np.asarray(values)
    return {"n": len(a), "p50": float(np.percentile(a, 50)), "p90": float(np.percentile(a, 90)),
            "p99": float(np.percentile(a, 99)), "max": float(a.max()), "mean": float(a.mean())}


def fmt(x: float) -> str:
    return "-" if x != x else f"{x:.3f}"


@dataclass
class Check:
    """Exactly-once accounting of one receiver for one phase."""

    receiver: str
    expected: int
    distinct: int
    missing: int
    duplicates: int  # notifications beyond the first, summed over alerts
    unexpected: int  # fingerprints (or non-firing notifications) we did not send

    @property
    def ok(self) -> bool:
        return self.distinct == self.expected and not (self.missing or self.duplicates or self.unexpected)


def account(seen: dict[str, Seen], expected: set[str], ignore: set[str]) -> list[Check]:
    checks = []
    for name in RECEIVERS:
        s = seen[name]
        got = {fp: times for fp, times in s.arrivals.items() if fp not in ignore}
        ours = {fp: times for fp, times in got.items() if fp in expected}
        checks.append(Check(
            name, len(expected), len(ours), len(expected - set(ours)),
            sum(len(t) - 1 for t in ours.values()), len(set(got) - expected)))
    return checks


def print_checks(title: str, checks: list[Check]) -> None:
    print(f"\n{title}")
    print(f"  {'receiver':<10} {'expected':>8} {'distinct':>8} {'missing':>8} {'dup':>6} {'unexpected':>10}  verdict")
    for c in checks:
        print(f"  {c.receiver:<10} {c.expected:>8} {c.distinct:>8} {c.missing:>8} {c.duplicates:>6} "
              f"{c.unexpected:>10}  {'ok' if c.ok else 'FAIL'}")


def print_latency(title: str, rows: list[tuple[str, dict[str, float]]]) -> None:
    print(f"\n{title}")
    print(f"  {'stage / receiver':<34} {'n':>5} {'p50':>7} {'p90':>7} {'p99':>7} {'max':>7} {'mean':>7}   (seconds)")
    for name, p in rows:
        n = "-" if p["n"] != p["n"] else str(int(p["n"]))
        print(f"  {name:<34} {n:>5} {fmt(p['p50']):>7} {fmt(p['p90']):>7} {fmt(p['p99']):>7} "
              f"{fmt(p['max']):>7} {fmt(p['mean']):>7}")


# --------------------------------------------------------------------------- the run

async def run(args: argparse.Namespace, bootstrap: str, workdir: Path, broker_pid: int | None) -> int:
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    predictions = f"{prefix}.predictions"
    ca = ThrowawayCA(workdir)
    slack = FakeSlack(received=Arrivals())
    pagerduty = FakePagerDuty(ssl_context=ca.server_context(), keys={ROUTING_KEY}, received=Arrivals())
    webhook = FakeWebhookReceiver(secret=SIGNING_SECRET, received=Arrivals())
    smtp_server = SmtpServer()
    smtp_server.received = Arrivals()  # type: ignore[assignment]
    failures: list[str] = []
    async with slack, pagerduty, webhook, smtp_server as smtp:
        fakes = {"slack": slack, "pagerduty": pagerduty, "email": smtp, "webhook": webhook}
        observer = Observer(fakes, model_fp)
        os.environ["BENCH_SLACK_WEBHOOK"] = slack.webhook_url(HOOK)
        os.environ["BENCH_PD_KEY"] = ROUTING_KEY
        os.environ["BENCH_HOOK_SECRET"] = SIGNING_SECRET
        rules = workdir / "rules"
        rules.mkdir()
        (rules / "lag.yaml").write_text(RULES)
        (workdir / "routing.yaml").write_text(yaml.safe_dump(fanout_routing(slack, pagerduty, ca, smtp, webhook, "BENCH")))
        config = worker_config(
            bootstrap, prefix,
            alerting={"rules": str(rules), "routing": str(workdir / "routing.yaml"),
                      "notify_tick_seconds": args.tick},
            worker={"batch_max_wait_seconds": args.batch_wait},
            monitoring={"max_models": args.alerts + args.storm + 10},
        )
        print(f"config: notify_tick_seconds={args.tick}  worker.batch_max_wait_seconds={args.batch_wait}  "
              f"group_wait=0s group_interval=1s  partitions={config['kafka']['partitions']}  "
              f"evaluation_interval_seconds=5 (default)  gap between latency alerts={args.gap}s")
        # The topics as the worker declares them (inputs with kafka.partitions, alerts with one partition),
        # created up front: otherwise whichever client asks first has the broker auto-create them with its
        # default (Tansu: 4 partitions, also for the alerts topic, which the notifier reads as one partition).
        topics = TopicNames(prefix)
        partitions = config["kafka"]["partitions"]
        await create_topics(bootstrap, [topics.predictions, topics.features, topics.labels, topics.deadletter],
                            partitions)
        await create_topics(bootstrap, [topics.alerts], 1)
        started = time.monotonic()
        worker = await asyncio.to_thread(WorkerProcess(config, workdir).start)
        print(f"worker up (metrics /healthz) in {time.monotonic() - started:.1f} s; log {worker.log_path}"
              + ("" if args.keep else " (removed at the end; --keep keeps it)"))
        watch = LogWatch(worker.log_path)
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
        await producer.start()
        followers: list[Follower] = []
        try:
            # Warm-up: one alert through the whole path (consumer groups joined, notifier owning the alerts
            # topic, every channel used once). Not counted.
            warm = "warmup-00000"
            warm_fp = model_fp(warm)
            t = time.monotonic()
            await producer.send_and_wait(predictions, key=warm.encode(), value=batch(warm, time.time() - 3600))
            if not await wait_until(lambda: observer.complete({warm_fp}), time.monotonic() + 120, 0.1,
                                    watch.notifier_dead):
                print(f"warm-up alert did not reach every receiver within 120 s\n{worker.log_tail()}")
                return 1
            print(f"warm-up alert at every receiver {time.monotonic() - t:.1f} s after its produce "
                  "(includes group joins and first connections)")
            alert_log = await Follower(bootstrap, f"{prefix}.alerts", 100, firing_fingerprint).start()
            followers.append(alert_log)
            hop = await Follower(bootstrap, predictions).start()  # aiokafka defaults, like the notifier
            followers.append(hop)
            hop_faust = await Follower(bootstrap, predictions, 1500).start()  # faust's consumer: 1500, hard-coded
            followers.append(hop_faust)
            print(f"topics (created before the worker): {predictions} has {hop.partitions} partition(s), "
                  f"{prefix}.alerts has {alert_log.partitions}")

            # 1. Latency: one alert at a time.
            t0: dict[str, float] = {}  # by fingerprint
            acked: dict[str, float] = {}
            model_of: dict[str, str] = {}
            for i in range(args.alerts):
                model = f"lat-{i:05d}"
                fp = model_fp(model)
                model_of[fp] = model
                value = batch(model, time.time() - 3600)
                t0[fp] = time.time()
                await producer.send_and_wait(predictions, key=model.encode(), value=value)
                acked[fp] = time.time()
                await asyncio.sleep(args.gap)
            expected = set(t0)
            done = await wait_until(lambda: observer.complete(expected), time.monotonic() + 60, 0.05,
                                    watch.notifier_dead)
            await asyncio.sleep(args.settle)  # late duplicates would show up here
            seen = observer.seen()
            if not done:
                failures.append("latency phase: not every alert arrived within 60 s of the last produce")
            lat_checks = account(seen, expected, {warm_fp})

            def since(f: Callable[[str], float | None], base: Callable[[str], float | None]) -> dict[str, float]:
                return pct([a - b for fp in expected if (a := f(fp)) is not None and (b := base(fp)) is not None])

            rows = [("produce call -> acked (acks=all)", since(acked.get, t0.get)),
                    ("baseline hop, fetch_max_wait 500 ms", since(lambda fp: hop.received(model_of[fp]), t0.get)),
                    ("baseline hop, fetch_max_wait 1500 ms", since(lambda fp: hop_faust.received(model_of[fp]),
                                                                   t0.get)),
                    ("worker: produce -> alert record", since(alert_log.written, t0.get))]
            for name in RECEIVERS:
                rows.append((f"notifier: alert record -> {name}", since(seen[name].first, alert_log.written)))
            for name in RECEIVERS:
                rows.append((f"END TO END -> {name}", since(seen[name].first, t0.get)))
            rows.append(("END TO END -> last of the four", since(
                lambda fp: None if any(seen[n].first(fp) is None for n in RECEIVERS)
                else max(seen[n].first(fp) for n in RECEIVERS), t0.get)))  # type: ignore[type-var]
            print_latency(f"1. LATENCY: {args.alerts} alerts one by one ({args.gap}s apart), t0 = just before "
                          "the produce call", rows)
            print("   baseline hop = a plain aiokafka consumer of the predictions topic, with the notifier's "
                  "fetch_max_wait_ms (aiokafka's default, 500)\n   and with faust's (1500, hard-coded in its "
                  "aiokafka driver); alert record = the record's broker CreateTime")
            print_checks("   delivery check (latency phase)", lat_checks)
            records = sum(alert_log.count(fp) for fp in expected)
            print(f"   firing alert records written by the worker: {records} for {len(expected)} alerts")

            # 2. Storm: every crossing batch at once.
            models = [f"storm-{i:05d}" for i in range(args.storm)]
            storm_expected = {model_fp(m) for m in models}
            values = [(m.encode(), batch(m, time.time() - 3600)) for m in models]
            cpu0 = cpu_now(worker.process.pid if worker.process else None, broker_pid)
            s0 = time.time()
            futures = [await producer.send(predictions, key=k, value=v) for k, v in values]
            await asyncio.gather(*futures)
            s_acked = time.time()
            deadline = time.monotonic() + args.storm_timeout
            done = await wait_until(lambda: observer.complete(storm_expected), deadline, 0.1, watch.notifier_dead)
            if not done:
                failures.append(f"storm: not every alert arrived within {args.storm_timeout:g} s" if not
                                watch.notifier_dead() else "storm: the worker's notifier task died (see its log)")
            s_done = time.time()
            cpu1 = cpu_now(worker.process.pid if worker.process else None, broker_pid)
            await asyncio.sleep(args.settle)
            seen = observer.seen()
            storm_checks = account(seen, storm_expected, {warm_fp} | expected)
            written = [w for fp in storm_expected if (w := alert_log.written(fp)) is not None]
            storm_records = sum(alert_log.count(fp) for fp in storm_expected)
            print(f"\n2. STORM: {args.storm} crossing batches produced in one go (all acked after "
                  f"{s_acked - s0:.3f} s); the worker wrote {storm_records} firing alert records, the last "
                  f"{(max(written) - s0) if written else float('nan'):.3f} s after the first produce")
            print(f"  {'receiver':<10} {'arrived':>8} {'first s':>8} {'last s':>8} {'notif/s':>8} "
                  f"{'notif/s*':>9} {'p50 s':>7} {'p99 s':>7} {'max gap s':>9} {'bursts':>6}")
            for name in RECEIVERS:
                firsts = [a for fp in storm_expected if (a := seen[name].first(fp)) is not None]
                all_times = [t for fp in storm_expected for t in seen[name].arrivals.get(fp, [])]
                if not firsts:
                    print(f"  {name:<10} {0:>8}")
                    continue
                first, last = min(all_times) - s0, max(all_times) - s0
                rate = len(all_times) / last if last > 0 else float("nan")
                window = (len(all_times) - 1) / (last - first) if last > first else float("nan")
                lat = pct([a - s0 for a in firsts])
                gaps = np.diff(sorted(all_times)) if len(all_times) > 1 else np.zeros(1)
                bursts = 1 + int((gaps > 0.1).sum())
                print(f"  {name:<10} {len(all_times):>8} {first:>8.3f} {last:>8.3f} {rate:>8.1f} {window:>9.1f} "
                      f"{lat['p50']:>7.3f} {lat['p99']:>7.3f} {float(gaps.max()):>9.3f} {bursts:>6}")
            print("  notif/s = arrived / (last arrival - first produce); notif/s* = between the first and last "
                  "arrival;\n  p50/p99 from the first produce; bursts = runs of arrivals separated by gaps > 0.1 s")
            wall = s_done - s0
            print(f"  CPU seconds from the storm's produce to its end ({wall:.2f} s wall, {os.cpu_count()} CPUs): "
                  + ", ".join(f"{k} {cpu1[k] - cpu0[k]:.2f} ({(cpu1[k] - cpu0[k]) / wall * 100:.0f}% of a core)"
                              for k in cpu0 if k in cpu1))
            print_checks("   delivery check (storm)", storm_checks)
            pd_storm = [e for _, e in pagerduty.received.snapshot()
                        if e.get("dedup_key") in storm_expected and e.get("event_action") == "trigger"]
            print(f"   PagerDuty: {len(pd_storm)} trigger events for the storm, "
                  f"{len({e['dedup_key'] for e in pd_storm})} distinct dedup_keys, expected {len(storm_expected)}; "
                  f"equal to the expected set: {({e['dedup_key'] for e in pd_storm}) == storm_expected}")
            other = {n: s.other for n, s in seen.items() if s.other}
            if other:
                print(f"   non-firing or unrecognised notifications: {other}")
                failures.append(f"unexpected non-firing notifications: {other}")
            for phase, checks in (("latency", lat_checks), ("storm", storm_checks)):
                for c in checks:
                    if not c.ok:
                        failures.append(f"{phase}: {c.receiver}: {c.missing} missing, {c.duplicates} duplicated, "
                                        f"{c.unexpected} unexpected of {c.expected}")
            try:
                delivered = worker.value("driftline_notifications_total", channel="slack", outcome="success")
                print(f"   worker metric driftline_notifications_total{{channel=slack,outcome=success}} = {delivered}")
            except Exception as exc:  # only context
                print(f"   (could not read /metrics: {exc})")
            if watch.notifier_dead():
                print(f"\n   THE NOTIFIER TASK DIED {watch.dead_at - s0:.1f} s after the storm's first produce "
                      "(the worker process keeps running without it)")
                if not any("notifier task died" in f for f in failures):
                    failures.append("the worker's notifier task died (after delivering what had arrived): "
                                    "alerts from now on would not be delivered")
            summary = watch.summary()
            if summary:
                print("\n   worker log, warnings and errors (counted):")
                for line in summary[:12]:
                    print("   " + line)
        finally:
            for follower in followers:
                await follower.stop()
            await producer.stop()
            code = await asyncio.to_thread(worker.stop)
            if code not in (0, None):
                failures.append(f"worker exited with {code}")
    if failures:
        print("\nFAILED:\n  " + "\n  ".join(failures))
        return 1
    print("\nOK: every alert reached every receiver exactly once")
    return 0


def broker_process(broker: Any) -> int | None:
    """The broker's pid, for CPU accounting: Tansu's child process, or the JVM's pid file."""
    if isinstance(broker, ApacheKafka):
        try:
            return int((broker.dir / "kafka.pid").read_text().strip())
        except (OSError, ValueError):
            return None
    process = getattr(broker, "_process", None)
    return process.pid if process is not None else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=200, help="alerts of the latency phase (default 200)")
    parser.add_argument("--storm", type=int, default=1000, help="alerts of the storm (default 1000)")
    parser.add_argument("--kafka", choices=("tansu", "apache"), default="tansu",
                        help="embedded Tansu broker (default) or Apache Kafka (scripts/kafka/start)")
    parser.add_argument("--gap", type=float, default=0.1, help="seconds between latency-phase alerts (default 0.1)")
    parser.add_argument("--tick", type=float, default=0.05, help="alerting.notify_tick_seconds (default 0.05)")
    parser.add_argument("--batch-wait", type=float, default=0.05,
                        help="worker.batch_max_wait_seconds (default 0.05)")
    parser.add_argument("--storm-timeout", type=float, default=90.0,
                        help="seconds for the storm to arrive in full (default 90)")
    parser.add_argument("--keep", action="store_true", help="keep the working directory (worker log, config)")
    parser.add_argument("--settle", type=float, default=2.0,
                        help="seconds to wait after the last arrival for late duplicates (default 2)")
    args = parser.parse_args()
    started = time.monotonic()
    print(f"broker: {args.kafka}; host CPUs: {os.cpu_count()}")
    broker: Any = ApacheKafka().start() if args.kafka == "apache" else EmbeddedBroker().start()
    broker_pid = broker_process(broker)
    try:
        if args.keep:
            workdir = Path(tempfile.mkdtemp(prefix="driftline-alert-bench-"))
            code = asyncio.run(run(args, broker.bootstrap_servers, workdir, broker_pid))
        else:
            with tempfile.TemporaryDirectory(prefix="driftline-alert-bench-") as tmp:
                code = asyncio.run(run(args, broker.bootstrap_servers, Path(tmp), broker_pid))
    finally:
        broker.stop()
        if isinstance(broker, ApacheKafka) and not args.keep:
            shutil.rmtree(broker.dir, ignore_errors=True)  # its data and log: ApacheKafka leaves them
    print(f"total run time {time.monotonic() - started:.1f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
