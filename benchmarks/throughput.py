"""Throughput of a driftline worker against the physical limit and faust's own ceiling, in one run.

    .venv/bin/python benchmarks/throughput.py [--quick] [--kafka tansu|apache] [--models 10] [--features 10]
                                              [--events 400000] [--single-events 60000] [--sweep 2,5,10,20,50,100]

Prediction events of ``--models`` models with ``--features`` features each (4 of 5 numeric,
every fifth categorical; ~300 bytes at 10 features), plus label events for ``--label-share``
of them, are produced to a real broker (the embedded Tansu broker by default, Apache Kafka
with ``--kafka apache``) twice: **batched** through driftline's own client
(:class:`driftline.client.AsyncProducer`, envelopes of up to 500 events of one model) and
**single** (one event per Kafka message, a plain aiokafka producer). Then, for each, the
same messages are consumed by three consumers, each in a process of its own, one after
the other:

1. **raw**: the physical limit. A plain aiokafka consumer (assigned every partition,
   ``getmany``) that decodes every message with ``msgspec.json.decode`` (as fast as orjson)
   and counts the events; nothing else. It takes a second or two, so it runs
   ``--raw-repeats`` times (3) and the best run counts.
2. **faust**: faust's own ceiling. A faust app built by driftline's ``build_faust_app``
   (the worker's settings) with one agent per input topic that takes messages in
   micro-batches exactly as driftline's agents do (``stream.take_events``) and only counts
   them.
3. **driftline**: a real :class:`~driftline.app.DriftlineWorker` with every estimator on:
   drift on all features, the prediction and the score (window statistics, calibrated
   CUSUMs, the multivariate PCA detector), quality with labels (label join, realized
   metrics, CBPE, ADWIN on the error stream), and rule evaluation with the repo's
   ``alert-rules/`` after every micro-batch (the notifier is off: no receivers here).
   Before it consumes, each model's monitor is warmed up in-process with
   ``drift.warmup_events`` events (``--warmup``) and its drift thresholds are calibrated
   the way the worker's calibration thread does it, so that the measured events meet the
   steady state (calibrated drift), not the warm-up.

Each consumer measures itself, in-process: events/s from the start of its first
micro-batch to the end of the one that completes the count (group joins and start-up
excluded), CPU seconds (``getrusage``, all its threads) per million events over that
span, and its peak RSS (VmHWM). Events are predictions and labels together. The driftline
worker also reports the wall time of each stage of its hot path (decode, grouping, monitor
update, label join, rule evaluation), measured by wrapping those functions in its process;
the two input agents run concurrently, so stages of their micro-batches may overlap. The ratios
driftline/raw and driftline/faust are of the same run; the machine is noisy, so the run
should be repeated when a figure looks disturbed.

``--sweep`` repeats raw and driftline on batched messages for several numbers of
features per event (``--sweep-models`` models, ``--sweep-events`` events each) and plots
events/s, feature values/s and CPU per event against features per event (``--plot``, a
PNG; docs/img/performance-throughput.png by default, a temporary file with ``--quick``).
``--profile FILE`` writes a cProfile of the driftline worker's measured span (FILE.batched,
FILE.single) and prints its top; ``--results FILE`` keeps every figure as JSON.
``--quick`` (about two minutes) uses fewer models, events and sweep points.

Exit status 1 if a consumer did not finish (its log is printed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pstats
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import msgspec  # noqa: E402
import numpy as np  # noqa: E402

from driftline.broker import EmbeddedBroker, free_port  # noqa: E402
from driftline.events.topic import TopicNames  # noqa: E402

CATEGORIES = ("a", "b", "c", "d", "e")
VERSION = "v1"
ROLES = ("raw", "faust", "driftline")


# --------------------------------------------------------------------------- the events

def feature_names(features: int) -> list[str]:
    return [f"f{i:02d}" for i in range(features)]


def is_categorical(index: int) -> bool:
    return index % 5 == 4


def model_name(index: int) -> str:
    return f"model-{index:03d}"


def make_events(model: int, count: int, features: int, seed: int, base_ts: float, tag: str,
                label_share: float = 0.0) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``count`` prediction events of one model (stationary: no drift), and labels for a share of them."""
    rng = np.random.default_rng([seed, model, features])
    names = feature_names(features)
    numeric = np.round(rng.normal(size=(count, features)), 4).tolist()
    categories = rng.integers(0, len(CATEGORIES), size=(count, features)).tolist()
    scores = np.round(rng.beta(2, 5, size=count), 4).tolist()
    labelled = rng.random(count) < label_share
    model_id = model_name(model)
    predictions, labels = [], []
    for i in range(count):
        row, cats = numeric[i], categories[i]
        values = {name: CATEGORIES[cats[j]] if is_categorical(j) else row[j] for j, name in enumerate(names)}
        p = scores[i]
        request_id = f"{model_id}-{tag}{i}"
        ts = base_ts + i * 0.001
        predictions.append({"model_id": model_id, "model_version": VERSION, "request_id": request_id, "ts": ts,
                            "features": values, "prediction": int(p > 0.5),
                            "scores": {"0": round(1 - p, 4), "1": p}})
        if labelled[i]:
            labels.append({"model_id": model_id, "request_id": request_id, "label": int(rng.random() < p),
                           "ts": ts + 1.0})
    return predictions, labels


def interleaved(per_model: list[list[dict[str, Any]]], chunk: int) -> list[dict[str, Any]]:
    """The models' events in rounds of ``chunk`` events per model, as a busy service would emit them."""
    out: list[dict[str, Any]] = []
    longest = max((len(events) for events in per_model), default=0)
    for start in range(0, longest, chunk):
        for events in per_model:
            out.extend(events[start:start + chunk])
    return out


# --------------------------------------------------------------------------- producing

async def create_topics(bootstrap: str, topics: TopicNames, partitions: int) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1)
             for name in (topics.predictions, topics.features, topics.labels, topics.deadletter)]
            + [NewTopic(topics.alerts, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()


async def produce_batched(bootstrap: str, prefix: str, predictions: list[dict], labels: list[dict]) -> None:
    """Through driftline's client: envelopes of up to 500 events per (topic, model)."""
    from driftline.client import AsyncProducer
    async with AsyncProducer(bootstrap, topic_prefix=prefix, max_buffer_events=200_000, acks=1) as producer:
        for kind, events in (("prediction", predictions), ("label", labels)):
            for event in events:
                await producer.send(kind, event)
        if not await producer.flush(timeout=300):
            raise RuntimeError("the client did not deliver every envelope within 300 s")
        stats = producer.stats
    if stats.dropped_total:
        raise RuntimeError(f"the client dropped events: {stats}")


async def produce_single(bootstrap: str, prefix: str, predictions: list[dict], labels: list[dict]) -> None:
    """One event per Kafka message, keyed by model_id, with a plain aiokafka producer."""
    from aiokafka import AIOKafkaProducer
    topics = TopicNames(prefix)
    encode = msgspec.json.Encoder().encode
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5, max_batch_size=1 << 20)
    await producer.start()
    try:
        futures = []
        for topic, events in ((topics.predictions, predictions), (topics.labels, labels)):
            for event in events:
                futures.append(await producer.send(topic, key=event["model_id"].encode(), value=encode(event)))
                if len(futures) >= 20_000:
                    await asyncio.gather(*futures)
                    futures.clear()
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


# --------------------------------------------------------------------------- measuring (in a consumer process)

def peak_rss() -> int:
    """This process's peak RSS (VmHWM; getrusage's ru_maxrss would carry the parent's over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


class Meter:
    """Times a consumer from the start of its first micro-batch to the end of the one that completes
    ``expected``; writes the result as JSON to ``out`` once, then leaves the process to be stopped."""

    def __init__(self, expected: int, out: Path, profile: Path | None = None) -> None:
        self.expected = expected
        self.out = out
        self.count = 0
        self.messages = 0
        self.started: float | None = None
        self._rusage: Any = None
        self._profiler: Any = None
        self._profile_path = profile
        self.done = False

    def start(self) -> None:
        if self.started is None:
            self.started = time.perf_counter()
            self._rusage = resource.getrusage(resource.RUSAGE_SELF)
            if self._profile_path is not None:
                import cProfile
                self._profiler = cProfile.Profile()
                self._profiler.enable()

    def add(self, events: int, messages: int, **extra: Any) -> None:
        self.count += events
        self.messages += messages
        if self.done or self.count < self.expected:
            return
        ended = time.perf_counter()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        if self._profiler is not None:
            self._profiler.disable()
            self._profiler.dump_stats(str(self._profile_path))
        self.done = True
        assert self.started is not None
        result = {"events": self.count, "messages": self.messages, "seconds": ended - self.started,
                  "cpu_user": usage.ru_utime - self._rusage.ru_utime,
                  "cpu_system": usage.ru_stime - self._rusage.ru_stime,
                  "peak_rss_bytes": peak_rss(), **extra}
        tmp = self.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(result))
        tmp.replace(self.out)


def run_raw(spec: dict[str, Any], meter: Meter) -> None:
    """Consume every partition of the input topics with plain aiokafka and only decode."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    async def main() -> None:
        topics = TopicNames(spec["prefix"])
        consumer = AIOKafkaConsumer(bootstrap_servers=spec["bootstrap"], enable_auto_commit=False,
                                    auto_offset_reset="earliest", max_partition_fetch_bytes=4 * 1024 * 1024,
                                    fetch_max_bytes=64 * 1024 * 1024)
        await consumer.start()
        try:
            assigned = [TopicPartition(name, p) for name in (topics.predictions, topics.labels)
                        for p in range(spec["partitions"])]
            consumer.assign(assigned)
            await consumer.seek_to_beginning(*assigned)
            meter.start()  # before the first fetch: aiokafka prefetches while the first getmany waits
            decode = msgspec.json.decode
            while not meter.done:
                batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
                if not batch:
                    continue
                events = messages = 0
                for records in batch.values():
                    messages += len(records)
                    for record in records:
                        value = decode(record.value)
                        inner = value.get("events")
                        events += 1 if inner is None else len(inner)
                meter.add(events, messages)
        finally:
            await consumer.stop()

    asyncio.run(main())


def worker_config(spec: dict[str, Any], group: str) -> Any:
    from driftline.config import Config
    prefix = spec["prefix"]
    return Config.from_mapping({
        "kafka": {"bootstrap_servers": spec["bootstrap"], "topic_prefix": prefix, "group_id": group,
                  "partitions": spec["partitions"]},
        "metrics": {"host": "127.0.0.1", "port": free_port()},
        "monitoring": {"max_models": max(spec["models"] + 10, 1000)},
        "limits": {"max_features": max(spec["features"], 1000)},
        "drift": {"warmup_events": spec["warmup"]},
        "worker": {"batch_max_wait_seconds": spec["batch_wait"]},
        "alerting": {"rules": str(REPO / "alert-rules"), "routing": str(REPO / "alert-rules/routing.yaml"),
                     "notify": False},
    })


def run_faust(spec: dict[str, Any], meter: Meter) -> None:
    """A faust app with the worker's settings whose agents take micro-batches and only count them."""
    import faust

    from driftline.app import build_faust_app, logging_config
    from driftline.events.agent import raw_topic

    config = worker_config(spec, f"{spec['prefix']}-faust-{uuid.uuid4().hex[:6]}")
    app = build_faust_app(config, Path(spec["workdir"]) / "faust-data")
    topics = TopicNames(spec["prefix"])
    events_per_message = spec["events_per_message"]

    def agent(name: str) -> Any:
        async def count(stream: faust.StreamT) -> None:
            async for events in stream.take_events(config.worker.batch_max_messages,
                                                   config.worker.batch_max_wait_seconds):
                meter.start()
                meter.add(len(events), len(events))
        count.__name__ = count.__qualname__ = name
        return count

    for name in (topics.predictions, topics.labels):
        topic = raw_topic(app, name, spec["partitions"], 1)
        app.agent(topic, name=f"count.{name}")(agent(f"count_{name.replace('.', '_')}"))
    meter.expected = spec["messages"]
    meter.events_per_message = events_per_message  # type: ignore[attr-defined]
    faust.Worker(app, loglevel="warning", quiet=True, redirect_stdouts=False,
                 logging_config=logging_config("warning")).execute_from_commandline()


class Stages:
    """Wall time per stage of the worker's hot path, by wrapping its functions in this process only
    (a perf_counter pair per call, a few calls per micro-batch: no measurable overhead)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, owner: Any, attribute: str, stage: str) -> None:
        original = getattr(owner, attribute, None)
        if original is None:
            return  # renamed since: that stage goes into "other"
        seconds = self.seconds
        seconds.setdefault(stage, 0.0)
        if asyncio.iscoroutinefunction(original):
            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                t = time.perf_counter()
                try:
                    return await original(*args, **kwargs)
                finally:
                    seconds[stage] += time.perf_counter() - t
            setattr(owner, attribute, timed_async)
        else:
            def timed(*args: Any, **kwargs: Any) -> Any:
                t = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    seconds[stage] += time.perf_counter() - t
            setattr(owner, attribute, timed)

    def reset(self) -> None:
        for stage in self.seconds:
            self.seconds[stage] = 0.0


def instrument(worker: Any) -> Stages:
    """Stages of the worker's hot path (nested ones are marked with their parent)."""
    import driftline.events.processor as processor_module
    from driftline.drift import VersionDrift
    from driftline.estimators.performance.quality import ModelQuality
    from driftline.events.decoder import EventDecoder
    from driftline.events.join import LabelJoin
    from driftline.monitor import Monitor, MonitorRegistry

    stages = Stages()
    stages.wrap(EventDecoder, "decode", "decode + validate (msgspec)")
    stages.wrap(processor_module, "group_events", "group into column batches")
    stages.wrap(Monitor, "update", "Monitor.update")
    stages.wrap(VersionDrift, "update", "  of which drift")
    stages.wrap(ModelQuality, "update_predictions", "  of which quality (CBPE)")
    stages.wrap(MonitorRegistry, "join_predictions", "join predictions to labels")
    stages.wrap(LabelJoin, "add_predictions", "  of which LabelJoin.add_predictions")
    stages.wrap(MonitorRegistry, "record_labels", "labels: count + join")
    stages.wrap(LabelJoin, "add_labels", "  of which LabelJoin.add_labels")
    stages.wrap(Monitor, "update_joined", "  of which (in both joins) realized quality")
    stages.wrap(worker.processor, "_observe_delays", "label delay histogram")
    stages.wrap(worker.processor, "after_batch", "after batch: rule evaluation")
    return stages


def run_driftline(spec: dict[str, Any], meter: Meter) -> None:
    """A real DriftlineWorker, warmed up and calibrated in-process first, then timed on the stream."""
    from driftline.app import DriftlineWorker
    from driftline.events.batch import group_events
    from driftline.events.decoder import EventDecoder
    from driftline.events.schema import EventKind

    config = worker_config(spec, f"{spec['prefix']}-driftline-{uuid.uuid4().hex[:6]}")
    worker = DriftlineWorker(config)
    started = time.perf_counter()
    decoder = EventDecoder(EventKind.PREDICTION, config.limits)
    now = time.time()
    for model in range(spec["models"]):
        # The same path as the stream (decode, group, Monitor.update), on warm-up events of each model.
        warm, _ = make_events(model, spec["warmup"], spec["features"], spec["seed"] + 1, spec["base_ts"] - 600, "w")
        for start in range(0, len(warm), 200):  # envelopes well under the message size limit
            decoded = decoder.decode(msgspec.json.encode({"events": warm[start:start + 200]}), now)
            assert not decoded.rejected, decoded.rejected[0].detail
            for batch in group_events(EventKind.PREDICTION, decoded.events, decoded.ts):
                worker.monitors.get(batch.model_id, batch.model_version).update(batch, now)
    for monitor in worker.monitors:
        drift = monitor.drift
        if drift is not None and drift.needs_calibration:
            drift.install(drift.calibrate())  # what the Calibrator's thread does
    warmup = {"warmup_seconds": time.perf_counter() - started,
              "watching": sum(1 for m in worker.monitors if m.drift is not None and m.drift.estimator is not None)}
    stages = instrument(worker)
    original = worker.processor.process
    busy = [0.0]

    async def process(kind: EventKind, records: Any) -> int:
        if meter.started is None:
            stages.reset()
        meter.start()
        t = time.perf_counter()
        applied = await original(kind, records)
        busy[0] += time.perf_counter() - t
        meter.add(applied, len(records), **warmup, invalid=worker.processor.rejected,
                  stages={"EventProcessor.process (all of the above and the rest)": busy[0], **stages.seconds})
        return applied

    worker.processor.process = process  # type: ignore[method-assign]
    worker.run(loglevel="warning")


def child_main(role: str, spec_path: Path, out: Path, profile: Path | None) -> None:
    spec = json.loads(spec_path.read_text())
    meter = Meter(spec["events"], out, profile)
    {"raw": run_raw, "faust": run_faust, "driftline": run_driftline}[role](spec, meter)


# --------------------------------------------------------------------------- running the consumers

def run_consumer(role: str, spec: dict[str, Any], workdir: Path, timeout: float,
                 profile: Path | None = None) -> dict[str, Any] | None:
    """Run one consumer in its own process until it reports its result; None if it did not."""
    name = f"{spec['prefix']}-{role}"
    spec_path, out, log_path = workdir / f"{name}.json", workdir / f"{name}.result.json", workdir / f"{name}.log"
    spec_path.write_text(json.dumps(spec))
    command = [sys.executable, str(Path(__file__).resolve()), "--role", role, "--spec", str(spec_path),
               "--out", str(out)]
    if profile is not None:
        command += ["--profile", str(profile)]
    with log_path.open("wb") as log:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if spec.get("blas_threads"):
            env["OPENBLAS_NUM_THREADS"] = str(spec["blas_threads"])
        elif role == "driftline":  # as `driftline worker` runs (driftline.cli): one BLAS thread
            for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
                env.setdefault(variable, "1")
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=workdir, env=env)
    deadline = time.monotonic() + timeout
    try:
        while not out.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
                print(f"  !! {role} consumer {'exited' if process.poll() is not None else 'timed out'}:\n{tail}")
                return None
            time.sleep(0.05)
        return json.loads(out.read_text())
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def measure(args: argparse.Namespace, bootstrap: str, workdir: Path, *, mode: str, models: int, features: int,
            events: int, roles: tuple[str, ...], profile: Path | None = None) -> dict[str, Any]:
    """Produce one data set, then run the consumers of ``roles`` over it; their results by role."""
    prefix = f"tp{uuid.uuid4().hex[:6]}-{mode[0]}{features}"
    base_ts = time.time() - 3600
    per_model = [make_events(m, events // models, features, args.seed, base_ts, "", args.label_share)
                 for m in range(models)]
    predictions = interleaved([p for p, _ in per_model], 100)
    labels = interleaved([lab for _, lab in per_model], 100)
    size = len(msgspec.json.encode(predictions[0])) if predictions else 0
    asyncio.run(create_topics(bootstrap, TopicNames(prefix), args.partitions))
    t = time.perf_counter()
    producer = produce_batched if mode == "batched" else produce_single
    asyncio.run(producer(bootstrap, prefix, predictions, labels))
    produced = time.perf_counter() - t
    spec = {"bootstrap": bootstrap, "prefix": prefix, "partitions": args.partitions, "models": models,
            "features": features, "events": len(predictions) + len(labels), "warmup": args.warmup,
            "seed": args.seed, "base_ts": base_ts, "batch_wait": args.batch_wait, "blas_threads": args.blas_threads, "workdir": str(workdir), "messages": 0, "events_per_message": 1.0}
    print(f"\n{mode}: {models} models x {features} features, {len(predictions):,} predictions "
          f"(~{size} bytes each) + {len(labels):,} labels, produced in {produced:.1f} s")
    results: dict[str, Any] = {"spec": spec, "event_bytes": size}
    for role in roles:
        result = run_consumer(role, spec, workdir, args.timeout, profile if role == "driftline" else None)
        if role == "raw" and result is not None:  # the limit is what the machine can do: the best of a few runs
            for _ in range(args.raw_repeats - 1):
                again = run_consumer(role, spec, workdir, args.timeout)
                if again is not None and rate(again) > rate(result):
                    result = again
        if result is None:
            results["failed"] = True
            continue
        if role == "driftline" and result["watching"] != models:
            print(f"  !! only {result['watching']} of {models} models had calibrated drift: not the steady state")
            results["failed"] = True
        if role == "raw":
            spec["messages"] = result["messages"]
            spec["events_per_message"] = result["events"] / max(result["messages"], 1)
        if role == "faust":  # it counts messages; events follow from the messages' mean size
            result["events"] = result["messages"] * spec["events_per_message"]
        results[role] = result
        print(f"  {role:<10} {rate(result):>12,.0f} events/s  {result['seconds']:7.2f} s  "
              f"{cpu_per_million(result):7.2f} CPU s/M events  peak RSS {result['peak_rss_bytes'] / 2**20:6.0f} MiB"
              + (f"  (warm-up + calibration {result['warmup_seconds']:.1f} s, {result['watching']} of {models} "
                 f"models watching, {result['invalid']} invalid)" if role == "driftline" else ""))
    stages = results.get("driftline", {}).get("stages")
    if stages:
        r = results["driftline"]
        print(f"  driftline worker, wall time per stage ({r['seconds']:.2f} s in all; the rest is faust: waiting "
              "for and handing over messages):")
        for stage, seconds in stages.items():
            print(f"    {stage:<58} {seconds:7.2f} s {seconds / r['seconds']:6.1%} "
                  f"{seconds / r['events'] * 1e6:7.2f} us/event")
    return results


def rate(result: dict[str, Any]) -> float:
    return result["events"] / result["seconds"] if result["seconds"] > 0 else float("nan")


def cpu_per_million(result: dict[str, Any]) -> float:
    return (result["cpu_user"] + result["cpu_system"]) / result["events"] * 1e6


# --------------------------------------------------------------------------- reporting

def print_table(runs: dict[str, dict[str, Any]]) -> None:
    print("\nTHROUGHPUT (events = predictions + labels; each consumer in its own process, measured from the start "
          "of its first micro-batch to the end of its last)")
    print(f"  {'messages':<9} {'consumer':<34} {'events/s':>11} {'msgs/s':>9} {'CPU s/M ev':>11} {'peak RSS MiB':>13}")
    names = {"raw": "1 raw aiokafka + decode (limit)", "faust": "2 faust agent, count only",
             "driftline": "3 driftline worker, all estimators"}
    for mode, results in runs.items():
        for role in ROLES:
            r = results.get(role)
            if r is None:
                continue
            print(f"  {mode:<9} {names[role]:<34} {rate(r):>11,.0f} {r['messages'] / r['seconds']:>9,.0f} "
                  f"{cpu_per_million(r):>11.2f} {r['peak_rss_bytes'] / 2**20:>13.0f}")
    print("\nRATIOS (same run)                         measured   target")
    for mode, target_role, target in (("batched", "raw", 0.5), ("single", "faust", 0.8),
                                      ("batched", "faust", None), ("single", "raw", None)):
        results = runs.get(mode, {})
        if "driftline" in results and target_role in results:
            ratio = rate(results["driftline"]) / rate(results[target_role])
            verdict = "" if target is None else f">= {target:.0%}  {'met' if ratio >= target else 'MISSED'}"
            print(f"  {mode:<8} driftline / {target_role:<6}                {ratio:>8.1%}   {verdict}")


def plot_sweep(sweep: list[dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [r for r in sweep if "raw" in r and "driftline" in r]
    features = [r["spec"]["features"] for r in points]
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4.4))
    for role, label, style in (("raw", "1 raw aiokafka + decode (limit)", "o--"),
                               ("driftline", "3 driftline worker, all estimators", "s-")):
        rates = [rate(r[role]) for r in points]
        left.plot(features, rates, style, label=label)
        middle.plot(features, [x * f for x, f in zip(rates, features)], style, label=label)
        right.plot(features, [cpu_per_million(r[role]) for r in points], style, label=label)
    for ax, ylabel in ((left, "events / s"), (middle, "feature values / s"),
                       (right, "CPU µs per event (less is better)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(features)
        ax.set_xticklabels([str(f) for f in features])
        ax.set_xlabel("features per event")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    for r in points:
        left.annotate(f"{rate(r['driftline']) / rate(r['raw']):.0%}", (r["spec"]["features"], rate(r["driftline"])),
                      textcoords="offset points", xytext=(0, -14), ha="center", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def print_profile(path: Path, mode: str, top: int = 30) -> None:
    print(f"\nPROFILE of the driftline worker's measured span, {mode} messages (cProfile, {path}); "
          f"top {top} by own time:")
    stats = pstats.Stats(str(path))
    stats.sort_stats("tottime").print_stats(top)


# --------------------------------------------------------------------------- main

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer models, events and sweep points (~2 minutes)")
    parser.add_argument("--kafka", choices=("tansu", "apache"), default="tansu",
                        help="embedded Tansu broker (default) or Apache Kafka (scripts/kafka/start)")
    parser.add_argument("--models", type=int, default=None, help="models (default 10; 4 with --quick)")
    parser.add_argument("--features", type=int, default=10, help="features per event (default 10)")
    parser.add_argument("--events", type=int, default=None,
                        help="prediction events, batched (default 400,000; 150,000 with --quick)")
    parser.add_argument("--single-events", type=int, default=None,
                        help="prediction events, one per message (default 60,000; 30,000 with --quick)")
    parser.add_argument("--label-share", type=float, default=0.5, help="share of predictions with a label (0.5)")
    parser.add_argument("--warmup", type=int, default=1000, help="drift.warmup_events (default 1000)")
    parser.add_argument("--batch-wait", type=float, default=0.05,
                        help="worker.batch_max_wait_seconds of the faust and driftline consumers (default 0.05, "
                             "the configuration's default)")
    parser.add_argument("--blas-threads", type=int, default=None,
                        help="OPENBLAS_NUM_THREADS for every consumer (default: 1 for the driftline worker, as "
                             "`driftline worker` sets it; numpy's default, one per CPU, for the others)")
    parser.add_argument("--modes", default="batched,single", help="which data sets (default batched,single)")
    parser.add_argument("--raw-repeats", type=int, default=3,
                        help="runs of the raw consumer, the best counts as the limit (default 3: it is short, so a "
                             "moment of load elsewhere on the machine shows)")
    parser.add_argument("--partitions", type=int, default=2, help="partitions of the input topics (default 2)")
    parser.add_argument("--sweep", default=None,
                        help="features per event for the plot (default 2,5,10,20,50,100; 5,20 with --quick; "
                             "'' for none)")
    parser.add_argument("--sweep-models", type=int, default=2, help="models in the sweep (default 2)")
    parser.add_argument("--sweep-events", type=int, default=None,
                        help="prediction events per sweep point (default 150,000; 60,000 with --quick)")
    parser.add_argument("--plot", type=Path, default=None,
                        help="the sweep's PNG (default docs/img/performance-throughput.png; with --quick a file in "
                             "the temporary directory, so that a quick run never replaces the documented figure)")
    parser.add_argument("--results", type=Path, default=None, help="also write every result as JSON here")
    parser.add_argument("--profile", type=Path, default=None,
                        help="cProfile the driftline worker's measured spans into FILE.batched and FILE.single")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per consumer (default 600)")
    parser.add_argument("--role", choices=ROLES, help=argparse.SUPPRESS)
    parser.add_argument("--spec", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        child_main(args.role, args.spec, args.out, args.profile)
        return 0
    q = args.quick
    args.models = args.models or (4 if q else 10)
    args.events = args.events or (150_000 if q else 400_000)
    args.single_events = args.single_events or (30_000 if q else 60_000)
    args.sweep_events = args.sweep_events or (60_000 if q else 150_000)
    if args.plot is None:
        args.plot = (Path(tempfile.gettempdir()) / "driftline-throughput-quick.png" if q
                     else REPO / "docs/img/performance-throughput.png")
    sweep = [int(x) for x in (args.sweep if args.sweep is not None else "5,20" if q else "2,5,10,20,50,100")
             .split(",") if x.strip()]
    started = time.monotonic()
    print(f"broker: {args.kafka}; host CPUs: {os.cpu_count()}; load average {os.getloadavg()[0]:.2f}; "
          f"partitions {args.partitions}; drift.warmup_events {args.warmup}; label share {args.label_share}; "
          f"worker.batch_max_wait_seconds {args.batch_wait}; OPENBLAS_NUM_THREADS "
          f"{args.blas_threads or '1 for the worker (as the CLI), unset for the baselines'}")
    if args.kafka == "apache":
        from tests.support.kafka import ApacheKafka
        broker: Any = ApacheKafka().start()
    else:
        broker = EmbeddedBroker().start()
    failed = False
    try:
        with tempfile.TemporaryDirectory(prefix="driftline-throughput-") as tmp:
            workdir = Path(tmp)
            runs = {}
            modes = [m.strip() for m in args.modes.split(",") if m.strip()]
            for mode, events in (("batched", args.events), ("single", args.single_events)):
                if mode not in modes:
                    continue
                runs[mode] = measure(args, broker.bootstrap_servers, workdir, mode=mode, models=args.models,
                                     features=args.features, events=events, roles=ROLES,
                                     profile=None if args.profile is None else
                                     args.profile.with_name(f"{args.profile.name}.{mode}"))
                failed |= bool(runs[mode].get("failed"))
            print_table(runs)
            points = []
            for features in sweep:
                points.append(measure(args, broker.bootstrap_servers, workdir, mode="batched",
                                      models=args.sweep_models, features=features, events=args.sweep_events,
                                      roles=("raw", "driftline")))
                failed |= bool(points[-1].get("failed"))
            if args.results is not None:
                args.results.write_text(json.dumps({"runs": runs, "sweep": points}, indent=1))
            if points:
                print("\nSWEEP (batched): features per event -> events/s")
                print(f"  {'features':>8} {'bytes/event':>11} {'raw ev/s':>11} {'driftline ev/s':>15} {'ratio':>7} "
                      f"{'driftline feature values/s':>27} {'CPU s/M ev':>11}")
                for r in points:
                    if "raw" in r and "driftline" in r:
                        d = rate(r["driftline"])
                        print(f"  {r['spec']['features']:>8} {r['event_bytes']:>11} {rate(r['raw']):>11,.0f} "
                              f"{d:>15,.0f} {d / rate(r['raw']):>7.1%} {d * r['spec']['features']:>27,.0f} "
                              f"{cpu_per_million(r['driftline']):>11.2f}")
                plot_sweep(points, args.plot, f"driftline throughput vs features per event (batched envelopes, "
                           f"{args.sweep_models} models, {args.kafka}, {os.cpu_count()} CPUs)")
                print(f"  plot: {args.plot}")
            for mode in runs if args.profile is not None else ():
                path = args.profile.with_name(f"{args.profile.name}.{mode}")
                if path.exists():
                    print_profile(path, mode)
    finally:
        broker.stop()
    print(f"\ntotal run time {time.monotonic() - started:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
