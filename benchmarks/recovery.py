"""Recovery of driftline workers on a real broker: SIGKILL to take-over, cold start, and what checkpoints cost.

    .venv/bin/python benchmarks/recovery.py [--quick] [--kafka apache|tansu] [--workers 3] [--kills 5]
                                            [--rate 2000] [--events 500000] [--rounds 2] [--short 10000,1]

Apache Kafka by default (``scripts/kafka/start``; rebalances and restores are only meaningful
there, DESIGN.md §6), the embedded Tansu broker with ``--kafka tansu``, or a running broker
with ``--bootstrap``. Every worker is ``driftline worker`` as a process
(:class:`tests.support.worker.WorkerProcess`) with the configuration of
``tests/integration/test_checkpoint.py`` (drift warm-up 4,000 events, windows of 2,000, the
repo's alert rules, no notifier) and its default checkpoint interval unless said otherwise.
Events are predictions in the shape of that test's stream (four features, one of them
categorical, one often missing), ``--envelope`` events per message, model ``i`` on
partition ``i mod --partitions``, so that every message carries the same number of events and
the events a partition's state reflects are its checkpointed offset times that number.

1. **Failover** (``--workers`` workers in one group, ``--models`` models): a warm-up backlog
   (``drift.warmup_events`` + 1,000 events per model) is produced, then a paced stream of
   ``--rate`` events/s runs until the end. Once every model is calibrated, ``--kills`` times: a
   worker that owns partitions is SIGKILLed at a random moment, the survivors are scraped
   (/metrics) every ``--poll`` seconds and their logs read; then the victim is restarted and the
   group left to settle. Breakdown of each kill, from the survivors' logs (``partitions [..]
   revoked``, ``restored partition N: M models, B bytes, offsets .. in S s``, ``partitions [..]
   assigned``) and scrapes: *rebalance wait* (kill -> the survivors revoke: the victim's session
   timeout), *rebalance* (revoke -> assigned, restores included), *restore* (the longest of the
   survivors' restore times), *first event* (assigned -> the new owner's count of every
   taken-over partition passes its checkpoint), *total* (kill -> every taken-over partition
   processed again) and *back at kill point* (kill -> the new owners re-counted every event
   produced to the victim's partitions before the kill). After each take-over the restored
   checkpoint partitions are read raw: a restore reads the whole partition log, superseded
   states and tombstones included, until compaction removes them. The restarted victim gives a
   *cold start into a running group* (spawn -> serving /healthz -> the others revoke -> assigned
   -> first event). At the end the producer stops and the workers' ``driftline_events_total``
   per partition must equal what was produced, each model on one worker: events lost or counted
   twice are reported, and the exit status is 1.
2. **Checkpoint overhead** (one worker, ``--tp-models`` models): per run, own topics and group; a
   warm-up (``drift.warmup_events`` + 2 envelopes per model) is produced, the worker started
   (a **cold start**: spawn -> serving -> assigned -> first event, nothing to restore) and left
   to calibrate every model (calibration runs on a thread of the worker and would distort the
   figure), then ``--events`` events are produced at once and timed from 10% of them (or the end
   of the produce, if later) to 95%, crossings interpolated between scrapes. The worker's CPU
   (``/proc/PID/stat``) over the same span gives CPU seconds per million events, which the
   machine's other load disturbs less than events/s. Checkpoints off (``checkpoint: {enabled:
   false}``), at the default interval and at a short one (``--short`` events,seconds),
   ``--rounds`` times in rotated order; ratios against checkpoints off, medians of the rounds.
   After each run with checkpoints: the ``driftline_checkpoint_seconds`` histogram and
   ``driftline_checkpoints_total`` from /metrics and, after a graceful stop, the checkpoint topic
   read back through :class:`~driftline.state.store.CheckpointStore` (models, bytes, and the
   share of the label join's waiting predictions) and raw (records and value bytes in the topic).
   The stream has no labels, so every prediction waits in the label join: its share of the
   state grows with the stream, up to ``quality.max_pending`` per model.

The machine is shared: the load average and the host's busy cores outside our processes are
printed with each measurement; figures taken under heavy outside load should be repeated.
``--quick`` (about three minutes): 2 kills, 6 models, one round of 200,000 events of 3 models;
its overhead spans are a few seconds long, so its ratios are indicative only. On Tansu the raw
read of the checkpoint topic may miss the last batch (its ListOffsets, DESIGN.md §6).
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import logging
import os
import random
import re
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import msgspec  # noqa: E402
import numpy as np  # noqa: E402

from driftline.broker import EmbeddedBroker  # noqa: E402
from driftline.events.topic import TopicNames  # noqa: E402
from tests.support.kafka import ApacheKafka, create_topics  # noqa: E402
from tests.support.worker import WorkerProcess, worker_config  # noqa: E402

COUNTRIES = ("DE", "FR", "US")
CLOCK_TICK = os.sysconf("SC_CLK_TCK")
LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")
REVOKED = re.compile(r"partitions \[([\d, ]*)\] revoked")
ASSIGNED = re.compile(r"partitions \[([\d, ]*)\] assigned \(generation (-?\d+)\)")
RESTORED = re.compile(r"restored partition (\d+): (\d+) models, (\d+) bytes, offsets (\{.*?\}) "
                      r"\(checkpoint \d+ of generation -?\d+\) in ([\d.]+) s")
CALIBRATED = re.compile(r"calibrated drift of (\S+) (\S+) in ([\d.]+) s")
EVENTS_LINE = re.compile(r'^driftline_events_total\{(.*)\} (\S+)$')
LABEL = re.compile(r'(\w+)="([^"]*)"')


# --------------------------------------------------------------------------- the stream

def model_name(index: int) -> str:
    return f"model-{index:02d}"


def model_index(model_id: str) -> int:
    return int(model_id.rsplit("-", 1)[1])


def envelope(model: int, start: int, n: int, ts: float, seed: int) -> bytes:
    """``n`` prediction events of one model, numbered from ``start``, in the shape of the checkpoint
    test's stream (tests/integration/test_checkpoint.py ``predictions``), one envelope."""
    rng = np.random.default_rng([seed, model, start])
    amount, age = rng.normal(100, 20, n).round(3).tolist(), rng.normal(40, 10, n).round(3).tolist()
    country = rng.choice(len(COUNTRIES), n, p=[0.5, 0.3, 0.2]).tolist()
    tenure, score = rng.exponential(10, n).round(3).tolist(), rng.random(n).round(4).tolist()
    name = model_name(model)
    events = [{"model_id": name, "model_version": "v1", "request_id": f"{name}-{start + i}", "ts": ts + i * 1e-3,
               "features": {"amount": amount[i], "age": age[i], "country": COUNTRIES[country[i]],
                            "tenure": None if (start + i) % 9 == 0 else tenure[i]},
               "prediction": int(score[i] > 0.5), "scores": {"0": round(1 - score[i], 4), "1": score[i]}}
              for i in range(n)]
    return msgspec.json.encode({"events": events})


def backlog(models: int, per_model: int, size: int, seed: int, base_ts: float) -> list[tuple[int, bytes]]:
    """``per_model`` events of every model in envelopes of ``size``, as (model, value), models interleaved."""
    out = []
    for start in range(0, per_model, size):
        for m in range(models):
            out.append((m, envelope(m, start, size, base_ts + start * 0.01, seed)))
    return out


async def produce_backlog(bootstrap: str, topic: str, messages: list[tuple[int, bytes]], partitions: int) -> None:
    from aiokafka import AIOKafkaProducer
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_request_size=8 << 20,
                                max_batch_size=1 << 20)
    await producer.start()
    try:
        futures = [await producer.send(topic, key=model_name(m).encode(), value=value, partition=m % partitions)
                   for m, value in messages]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def create_inputs(bootstrap: str, prefix: str, partitions: int) -> None:
    topics = TopicNames(prefix)
    await create_topics(bootstrap, list(topics.inputs) + [topics.deadletter], partitions=partitions)
    await create_topics(bootstrap, [topics.alerts], partitions=1)


class PacedProducer:
    """A continuous stream of ``rate`` events/s (envelopes of ``size``, models in turn) on a thread of
    its own; ``produced[p]`` counts the events of partition ``p`` the broker acknowledged."""

    def __init__(self, bootstrap: str, topic: str, models: int, partitions: int, rate: float, size: int,
                 seed: int, first: int) -> None:
        self.bootstrap, self.topic, self.models, self.partitions = bootstrap, topic, models, partitions
        self.rate, self.size, self.seed = rate, size, seed
        self.next = [first] * models  # the next event number of each model
        self.produced = [0] * partitions
        self.sent = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), name="paced-producer", daemon=True)

    def start(self) -> PacedProducer:
        self._thread.start()
        return self

    def stop(self) -> list[int]:
        self._stop.set()
        self._thread.join(60)
        if self.error is not None:
            raise RuntimeError(f"the paced producer failed: {self.error!r}")
        return list(self.produced)

    async def _run(self) -> None:
        from aiokafka import AIOKafkaProducer
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=2)
        await producer.start()
        try:
            gap, started, pending = self.size / self.rate, time.monotonic(), []
            while not self._stop.is_set():
                m = self.sent % self.models
                value = envelope(m, self.next[m], self.size, time.time(), self.seed)
                self.next[m] += self.size
                future = await producer.send(self.topic, key=model_name(m).encode(), value=value,
                                             partition=m % self.partitions)
                future.add_done_callback(lambda f, p=m % self.partitions: self._acked(f, p))
                pending.append(future)
                self.sent += 1
                if len(pending) > 200:
                    await asyncio.gather(*pending)
                    pending.clear()
                delay = started + self.sent * gap - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            await asyncio.gather(*pending)
        except BaseException as exc:  # reported by stop()
            self.error = exc
        finally:
            await producer.stop()

    def _acked(self, future: asyncio.Future, partition: int) -> None:
        if not future.cancelled() and future.exception() is None:
            self.produced[partition] += self.size


# --------------------------------------------------------------------------- observing a worker

def log_time(line: str) -> float | None:
    match = LOG_TIME.match(line)
    return datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp() if match else None


def partition_list(text: str) -> list[int]:
    return [int(x) for x in text.replace(" ", "").split(",") if x]


@dataclass
class Observed:
    """What one worker's log said since a point in time (a kill, its own spawn)."""

    revoked: list[float] = field(default_factory=list)
    assigned: list[tuple[float, int, list[int]]] = field(default_factory=list)  # (time, generation, partitions)
    restored: dict[int, dict[str, Any]] = field(default_factory=dict)  # partition -> the last restore
    calibrated: list[float] = field(default_factory=list)


class Watched:
    """A worker process, its log read incrementally and its /metrics scraped without a full parser."""

    def __init__(self, worker: WorkerProcess, name: str) -> None:
        self.worker, self.name = worker, name
        self.offset = 0
        self.observed = Observed()
        self.last_assignment: tuple[int, list[int]] = (-1, [])

    @property
    def pid(self) -> int:
        assert self.worker.process is not None
        return self.worker.process.pid

    def alive(self) -> bool:
        return self.worker.process is not None and self.worker.process.poll() is None

    def reset(self, assignment: bool = False) -> None:
        """Forget what the log said so far (a new observation starts now), and the assignment if asked."""
        self.read_log()
        self.observed = Observed()
        if assignment:
            self.last_assignment = (-1, [])

    def read_log(self) -> Observed:
        try:
            with self.worker.log_path.open("rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return self.observed
        end = data.rfind(b"\n") + 1
        self.offset += end
        obs = self.observed
        for line in data[:end].decode(errors="replace").splitlines():
            t = log_time(line)
            if t is None:
                continue
            if m := REVOKED.search(line):
                obs.revoked.append(t)
            elif m := ASSIGNED.search(line):
                obs.assigned.append((t, int(m.group(2)), partition_list(m.group(1))))
                self.last_assignment = (int(m.group(2)), partition_list(m.group(1)))
            elif m := RESTORED.search(line):
                offsets = ast.literal_eval(m.group(4))
                obs.restored[int(m.group(1))] = {"time": t, "models": int(m.group(2)), "bytes": int(m.group(3)),
                                                 "offsets": offsets, "seconds": float(m.group(5))}
            elif CALIBRATED.search(line):
                obs.calibrated.append(t)
        return obs

    def scrape(self, timeout: float = 5.0) -> str | None:
        try:
            with urllib.request.urlopen(self.worker.metrics_url, timeout=timeout) as response:
                return response.read().decode()
        except OSError:
            return None

    def model_counts(self) -> dict[str, int] | None:
        """Prediction events counted per model (all versions)."""
        text = self.scrape()
        if text is None:
            return None
        out: dict[str, int] = {}
        for line in text.splitlines():
            m = EVENTS_LINE.match(line)
            if m:
                labels = dict(LABEL.findall(m.group(1)))
                if labels.get("kind") == "prediction":
                    out[labels["model_id"]] = out.get(labels["model_id"], 0) + int(float(m.group(2)))
        return out

    def counts(self, partitions: int) -> dict[int, int] | None:
        """Prediction events counted per input partition (model i is on partition i mod partitions)."""
        models = self.model_counts()
        if models is None:
            return None
        out: dict[int, int] = {}
        for model_id, n in models.items():
            p = model_index(model_id) % partitions
            out[p] = out.get(p, 0) + n
        return out

    def cpu_seconds(self) -> float:
        """User + system CPU of the worker process so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


def host_busy() -> float:
    """Busy CPU seconds of the whole host so far (all cores)."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / CLOCK_TICK


def process_cpu(pid: int | None) -> float:
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


def self_cpu() -> float:
    usage = os.times()
    return usage.user + usage.system


def poll_until(check: Callable[[], Any], timeout: float, interval: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def worker_settings(bootstrap: str, prefix: str, args: argparse.Namespace, checkpoint: dict[str, Any],
                    group: str | None = None) -> dict[str, Any]:
    """The configuration of tests/integration/test_checkpoint.py, with ``checkpoint`` on top of the defaults."""
    config = worker_config(bootstrap, prefix, kafka={"partitions": args.partitions},
                           drift={"warmup_events": args.warmup, "window_events": 2000},
                           quality={"window_events": 2000}, alerting={"notify": False},
                           monitoring={"max_models": max(1000, args.models * 2)})
    if group is not None:
        config["kafka"]["group_id"] = group
    if checkpoint:
        config["checkpoint"] = checkpoint
    return config


# --------------------------------------------------------------------------- 1. failover

def settled_group(watched: list[Watched], partitions: int) -> bool:
    """Every live worker's last assignment is of one generation, and together they own every partition once."""
    for w in watched:
        w.read_log()
    gens = {w.last_assignment[0] for w in watched}
    owned = [p for w in watched for p in w.last_assignment[1]]
    return len(gens) == 1 and sorted(owned) == list(range(partitions))


def all_watching(watched: list[Watched], models: int) -> bool:
    watching = set()
    for w in watched:
        text = w.scrape() or ""
        for line in text.splitlines():
            if line.startswith("driftline_drift_phase{") and 'phase="watching"' in line and line.endswith(" 1.0"):
                watching.add(dict(LABEL.findall(line))["model_id"])
    return len(watching) >= models


def progressing(watched: list[Watched], partitions: int) -> bool:
    """Every partition is counted by its owner (the settled group is processing)."""
    seen: dict[int, int] = {}
    for w in watched:
        counts = w.counts(partitions) or {}
        for p in w.last_assignment[1]:
            seen[p] = counts.get(p, 0)
    return len(seen) == partitions and all(v > 0 for v in seen.values())


def observe_kill(victim: Watched, survivors: list[Watched], taken: list[int], produced_at_kill: list[int],
                 t_kill: float, args: argparse.Namespace, topic: str) -> dict[str, Any]:
    """Poll the survivors until every partition of ``taken`` is processed again and back at the kill point."""
    first: dict[int, float] = {}
    back: dict[int, float] = {}
    owner: dict[int, Watched] = {}
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        for s in survivors:
            obs = s.read_log()
            for p in taken:
                if p in obs.restored:
                    owner[p] = s
        for s in survivors:
            mine = [p for p in taken if owner.get(p) is s]
            if not mine:
                continue
            counts = s.counts(args.partitions)
            now = time.time()
            if counts is None:
                continue
            for p in mine:
                restored = s.observed.restored[p]["offsets"].get(topic, 0) * args.envelope
                if p not in first and counts.get(p, 0) > restored:
                    first[p] = now
                if p not in back and counts.get(p, 0) >= produced_at_kill[p]:
                    back[p] = now
        if len(first) == len(taken) and len(back) == len(taken) and all(s.observed.assigned for s in survivors):
            break
        time.sleep(args.poll)
    else:
        raise TimeoutError(f"partitions {taken} not processed again within {args.timeout:g} s of the kill "
                           f"(first event {sorted(first)}, back {sorted(back)}, restored by "
                           f"{ {p: w.name for p, w in owner.items()} })")
    revoked = min((s.observed.revoked[0] for s in survivors if s.observed.revoked), default=None)
    assigned = {s.name: s.observed.assigned[-1][0] for s in survivors}
    restores = [owner[p].observed.restored[p] for p in taken]
    restore_by_survivor: dict[str, float] = {}  # a survivor restores its new partitions one after the other
    for p, r in zip(taken, restores):
        restore_by_survivor[owner[p].name] = restore_by_survivor.get(owner[p].name, 0.0) + r["seconds"]
    return {
        "victim": victim.name, "partitions": taken,
        "rebalance_wait": (revoked - t_kill) if revoked is not None else float("nan"),
        "rebalance": (max(assigned.values()) - revoked) if revoked is not None else float("nan"),
        "restore": max(restore_by_survivor.values()),
        "first_event": max(first[p] - assigned[owner[p].name] for p in taken),
        "total": max(first.values()) - t_kill,
        "back": max(back.values()) - t_kill,
        "models": sum(r["models"] for r in restores), "bytes": sum(r["bytes"] for r in restores),
        "replayed": sum(produced_at_kill[p] - r["offsets"].get(topic, 0) * args.envelope
                        for p, r in zip(taken, restores)),
    }


def observe_start(w: Watched, t_spawn: float, t_serving: float, args: argparse.Namespace, topic: str,
                  others: list[Watched] = ()) -> dict[str, Any]:
    """Spawn -> serving /healthz -> the group's rebalance begins (the others revoke, if any) -> first non-empty
    assignment -> first event of an assigned partition. A worker the group leaves without partitions for
    20 s is reported without a first event."""
    deadline = time.monotonic() + args.timeout
    empty_since = None
    while time.monotonic() < deadline:
        obs = w.read_log()
        for o in others:
            o.read_log()
        mine = [a for a in obs.assigned if a[2]]
        row = {"serving": t_serving - t_spawn,
               "rebalance": min((o.observed.revoked[0] for o in others if o.observed.revoked), default=t_spawn)
               - t_spawn if others else float("nan"),
               "assigned": (mine or obs.assigned or [(float("nan"),)])[0][0] - t_spawn,
               "partitions": mine[0][2] if mine else []}
        if mine:
            counts = w.counts(args.partitions) or {}
            now = time.time()
            for p in mine[0][2]:
                restored = obs.restored[p]["offsets"].get(topic, 0) * args.envelope if p in obs.restored else 0
                if counts.get(p, 0) > restored:
                    return {**row, "first_event": now - t_spawn}
        elif obs.assigned:
            empty_since = empty_since or time.monotonic()
            if time.monotonic() - empty_since > 20:
                return {**row, "first_event": float("nan")}
        time.sleep(args.poll)
    raise TimeoutError(f"{w.name} processed nothing within {args.timeout:g} s of its start\n{w.worker.log_tail()}")


def failover(args: argparse.Namespace, bootstrap: str, workdir: Path) -> dict[str, Any]:
    prefix = f"rcf{uuid.uuid4().hex[:8]}"
    topic = TopicNames(prefix).predictions
    asyncio.run(create_inputs(bootstrap, prefix, args.partitions))
    warm = args.warmup + 1000
    t = time.perf_counter()
    asyncio.run(produce_backlog(bootstrap, topic, backlog(args.models, warm, args.envelope, args.seed,
                                                          time.time() - 600), args.partitions))
    print(f"\nFAILOVER: {args.workers} workers, {args.models} models on {args.partitions} partitions, warm-up backlog "
          f"{warm * args.models:,} events ({time.perf_counter() - t:.1f} s to produce), then {args.rate:,.0f} events/s "
          f"in envelopes of {args.envelope}; checkpoint interval: the default (100,000 events / 10 s); "
          f"session timeout {args.session_timeout:g} s")
    producer = PacedProducer(bootstrap, topic, args.models, args.partitions, args.rate, args.envelope, args.seed,
                             first=warm)
    for p in range(args.partitions):  # the backlog counts as produced
        producer.produced[p] += warm * sum(1 for m in range(args.models) if m % args.partitions == p)
    producer.start()
    watched = []
    for i in range(args.workers):
        cfg = worker_settings(bootstrap, prefix, args, {})
        cfg["kafka"]["session_timeout_seconds"] = args.session_timeout
        watched.append(Watched(WorkerProcess(cfg, workdir, name=f"{prefix}-w{i}"), f"w{i}"))
    threads = [threading.Thread(target=w.worker.start) for w in watched]
    kills: list[dict[str, Any]] = []
    starts: list[dict[str, Any]] = []
    result: dict[str, Any] = {"kills": kills, "starts": starts}
    try:
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        if not all(w.alive() for w in watched):
            raise RuntimeError("a worker did not start:\n" + "\n".join(w.worker.log_tail() for w in watched))
        t = time.monotonic()
        poll_until(lambda: settled_group(watched, args.partitions) and progressing(watched, args.partitions),
                   args.timeout, 0.5, "the group to settle")
        poll_until(lambda: all_watching(watched, args.models), args.timeout * 2, 1.0, "every model's calibration")
        print(f"  group settled and every model calibrated {time.monotonic() - t:.1f} s after the workers started")
        rng = random.Random(args.seed)
        for k in range(args.kills):
            poll_until(lambda: settled_group(watched, args.partitions) and progressing(watched, args.partitions),
                       args.timeout, 0.5, "the group to settle")
            victim = next(w for w in watched[k % len(watched):] + watched if w.last_assignment[1])
            survivors = [w for w in watched if w is not victim]
            time.sleep(rng.uniform(1.0, 11.0))  # a random moment relative to the victim's checkpoints
            settled_group(watched, args.partitions)
            taken = list(victim.last_assignment[1])
            for s in survivors:
                s.reset()
            produced_at_kill = list(producer.produced)
            t_kill = time.time()
            victim.worker.kill()
            row = observe_kill(victim, survivors, taken, produced_at_kill, t_kill, args, topic)
            row["load"] = os.getloadavg()[0]
            log = asyncio.run(checkpoint_log(bootstrap, TopicNames(prefix).checkpoints, taken))
            row["log_bytes"], row["log_records"] = log["value_bytes"], log["records"]
            kills.append(row)
            print(f"  kill {k + 1}: {victim.name} (partitions {taken}) -> rebalance wait "
                  f"{row['rebalance_wait']:.2f} s, "
                  f"rebalance {row['rebalance']:.2f} s (restore {row['restore']:.2f} s, {row['models']} models, "
                  f"{row['bytes'] / 1024:,.0f} KiB), first event {row['first_event']:.2f} s later; total "
                  f"{row['total']:.2f} s, back at kill point {row['back']:.2f} s "
                  f"({row['replayed']:,} events replayed); "
                  f"the restored checkpoint partitions now hold {row['log_records']} records, "
                  f"{row['log_bytes'] / 2**20:,.1f} MiB")
            victim.reset(assignment=True)
            for s in survivors:
                s.reset()
            t_spawn = time.time()
            victim.worker.start()
            start = observe_start(victim, t_spawn, time.time(), args, topic, survivors)
            starts.append(start)
            print(f"  restart of {victim.name}: serving {start['serving']:.2f} s, the others revoke "
                  f"{start['rebalance']:.2f} s, assigned {start['assigned']:.2f} s (partitions {start['partitions']}), "
                  f"first event {start['first_event']:.2f} s after spawn")
        produced = producer.stop()
        result["produced"] = produced
        result["counted"], result["shared"] = final_counts(watched, produced, args)
    finally:
        try:
            producer.stop()
        except RuntimeError as exc:
            print(f"  !! {exc}")
        for w in watched:
            try:
                w.worker.stop()
            except AssertionError as exc:
                print(f"  !! {w.name}: {exc}")
    if "counted" in result:
        result["topic"] = asyncio.run(checkpoint_topic(bootstrap, prefix, args.partitions))
    return result


def final_counts(watched: list[Watched], produced: list[int], args: argparse.Namespace) -> tuple[list[int], list[str]]:
    """The workers' counts per partition once they equal ``produced`` (and still do 3 s later), or once they
    stopped changing for 10 s; and the models more than one worker exports."""
    last: list[int] = []
    shared: list[str] = []
    steady_since = time.monotonic()
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        totals = [0] * args.partitions
        seen: dict[str, int] = {}
        for w in watched:
            for model_id, n in (w.model_counts() or {}).items():
                totals[model_index(model_id) % args.partitions] += n
                seen[model_id] = seen.get(model_id, 0) + 1
        shared = sorted(m for m, k in seen.items() if k > 1)
        if totals != last:
            last, steady_since = totals, time.monotonic()
        if totals == produced and time.monotonic() - steady_since >= 3.0:
            break
        if time.monotonic() - steady_since >= 10.0:
            break
        time.sleep(0.5)
    return last, shared


# --------------------------------------------------------------------------- 2. checkpoint overhead

def crossing(samples: list[tuple[float, float, float]], target: float) -> tuple[float, float]:
    """(time, cpu) at which the count crosses ``target``, interpolated between scrapes (t, count, cpu)."""
    for (t0, n0, c0), (t1, n1, c1) in zip(samples, samples[1:]):
        if n0 <= target <= n1 and n1 > n0:
            f = (target - n0) / (n1 - n0)
            return t0 + f * (t1 - t0), c0 + f * (c1 - c0)
    raise ValueError(f"the count never crossed {target}")


def histogram(text: str, name: str) -> dict[str, Any]:
    buckets, total, count = [], 0.0, 0.0
    for line in text.splitlines():
        if line.startswith(f"{name}_bucket{{"):
            le = dict(LABEL.findall(line))["le"]
            buckets.append((float(le), float(line.rsplit(" ", 1)[1])))
        elif line.startswith(f"{name}_sum"):
            total = float(line.rsplit(" ", 1)[1])
        elif line.startswith(f"{name}_count"):
            count = float(line.rsplit(" ", 1)[1])
    return {"buckets": buckets, "sum": total, "count": count}


def quantile(hist: dict[str, Any], q: float) -> float:
    """The upper bound of the bucket that holds quantile ``q``."""
    for le, n in hist["buckets"]:
        if n >= q * hist["count"] and hist["count"]:
            return le
    return float("nan")


def sample_value(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return float("nan")


async def checkpoint_topic(bootstrap: str, prefix: str, partitions: int) -> dict[str, Any]:
    """The checkpoint topic read back: live state per input partition, and every record still in the topic."""
    from driftline.config import KafkaConfig
    from driftline.state.codec import encode_snapshot
    from driftline.state.store import CheckpointStore
    topic = TopicNames(prefix).checkpoints
    store = CheckpointStore(KafkaConfig(bootstrap_servers=bootstrap), topic, partitions)
    live = []
    try:
        for p in range(partitions):
            restored = await store.load(p)
            join = sum(len(encode_snapshot("model", state["monitors"]["join"])) for state in restored.models.values()
                       if isinstance(state.get("monitors"), dict) and "join" in state["monitors"])
            live.append({"partition": p, "models": len(restored.models), "bytes": restored.bytes, "join": join})
    finally:
        await store.close()
    return {"live": live, **await checkpoint_log(bootstrap, topic, range(partitions))}


async def checkpoint_log(bootstrap: str, topic: str, partitions: Any) -> dict[str, int]:
    """Records, tombstones and value bytes in ``partitions`` of the checkpoint topic: what a restore reads."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest",
                                max_partition_fetch_bytes=8 << 20)
    await consumer.start()
    records = value_bytes = tombstones = 0
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)

        async def behind() -> bool:
            return any([await consumer.position(tp) < end[tp] for tp in tps])

        while await behind():
            for batch in (await consumer.getmany(timeout_ms=1000)).values():
                for record in batch:
                    records += 1
                    tombstones += record.value is None
                    value_bytes += len(record.value or b"")
    finally:
        await consumer.stop()
    return {"records": records, "tombstones": tombstones, "value_bytes": value_bytes}


def throughput_run(args: argparse.Namespace, bootstrap: str, workdir: Path, label: str, checkpoint: dict[str, Any],
                   warm: list[tuple[int, bytes]], messages: list[tuple[int, bytes]], warm_events: int, expected: int,
                   broker_pid: int | None) -> dict[str, Any]:
    """One worker: the warm-up (counted as a cold start) until every model is calibrated, then ``messages``
    produced at once and timed between 10% and 95% of them."""
    prefix = f"rct{uuid.uuid4().hex[:8]}"
    predictions = TopicNames(prefix).predictions
    asyncio.run(create_inputs(bootstrap, prefix, args.partitions))
    asyncio.run(produce_backlog(bootstrap, predictions, warm, args.partitions))
    cfg = worker_settings(bootstrap, prefix, args, checkpoint)
    w = Watched(WorkerProcess(cfg, workdir, name=f"{prefix}-{label.split()[0]}"), label)
    t_spawn = time.time()
    w.worker.start()
    t_serving = time.time()
    samples: list[tuple[float, float, float]] = []
    host: list[tuple[float, float]] = []
    try:
        t_first = poll_until(lambda: sum((w.counts(args.partitions) or {}).values()) > 0 and time.time(),
                             args.timeout, args.poll, f"{label}: the first event")
        t = time.monotonic()
        poll_until(lambda: sum((w.counts(args.partitions) or {}).values()) >= warm_events
                   and all_watching([w], args.tp_models), args.timeout, 0.5, f"{label}: calibrations")
        calibration = time.monotonic() - t
        load = os.getloadavg()[0]
        samples.append((time.time(), 0, w.cpu_seconds()))
        host.append((host_busy(), samples[0][2] + process_cpu(broker_pid) + self_cpu()))
        produce = threading.Thread(target=lambda: asyncio.run(produce_backlog(bootstrap, predictions, messages,
                                                                               args.partitions)))
        produce.start()
        produced_at = None
        total = warm_events + expected
        deadline = time.monotonic() + args.timeout
        while True:
            counts = w.counts(args.partitions)
            now, cpu = time.time(), w.cpu_seconds()
            host.append((host_busy(), cpu + process_cpu(broker_pid) + self_cpu()))
            if produced_at is None and not produce.is_alive():
                produced_at = now
            if counts is not None:
                samples.append((now, sum(counts.values()) - warm_events, cpu))
                if samples[-1][1] >= expected:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{label}: {samples[-1][1] if samples else 0:,.0f} of {expected:,} events "
                                   f"within {args.timeout:g} s\n{w.worker.log_tail()}")
            time.sleep(args.poll)
        if samples[-1][1] != expected:
            raise RuntimeError(f"{label}: counted {samples[-1][1] + warm_events:,} events of {total:,} produced")
        text = w.scrape() or ""
        obs = w.read_log()
    finally:
        w.worker.stop()
    produce.join()
    produced_at = produced_at or samples[-1][0]
    counted = next(n for t, n, _ in samples if t >= produced_at)  # after the produce (it competes for the CPU)
    start = max(0.10 * expected, counted)
    t10, c10 = crossing(samples, start)
    t95, c95 = crossing(samples, 0.95 * expected)
    events = 0.95 * expected - start
    seconds = t95 - t10
    span = host[-1][0] - host[0][0], samples[-1][0] - samples[0][0]
    other = (span[0] - (host[-1][1] - host[0][1])) / span[1] if span[1] > 0 else float("nan")
    result = {
        "label": label, "checkpoint": checkpoint, "rate": events / seconds,
        "cpu_per_million": (c95 - c10) / events * 1e6, "seconds": seconds, "calibration": calibration,
        "produce_seconds": produced_at - samples[0][0], "start_share": start / expected,
        "cold_start": {"serving": t_serving - t_spawn, "rebalance": float("nan"),
                       "assigned": (obs.assigned[0][0] if obs.assigned else float("nan")) - t_spawn,
                       "first_event": t_first - t_spawn},
        "checkpoint_seconds": histogram(text, "driftline_checkpoint_seconds"),
        "checkpoints": sample_value(text, "driftline_checkpoints_total"),
        "load": load, "other_cores": other,
    }
    if checkpoint.get("enabled", True):
        result["topic"] = asyncio.run(checkpoint_topic(bootstrap, prefix, args.partitions))
    return result


def overhead(args: argparse.Namespace, bootstrap: str, workdir: Path, broker_pid: int | None) -> list[dict[str, Any]]:
    per_model = args.events // args.tp_models
    per_model -= per_model % args.tp_envelope
    expected = per_model * args.tp_models
    warm_per_model = args.warmup + 2 * args.tp_envelope
    t = time.perf_counter()
    base_ts = time.time() - 3000
    warm = backlog(args.tp_models, warm_per_model, args.tp_envelope, args.seed + 1, base_ts)
    messages = [(m, envelope(m, warm_per_model + start, args.tp_envelope, base_ts + 100 + start * 0.01, args.seed + 1))
                for start in range(0, per_model, args.tp_envelope) for m in range(args.tp_models)]
    short_events, short_seconds = args.short
    configs = [("off", {"enabled": False}), ("default (100000 ev / 10 s)", {}),
               (f"short ({short_events} ev / {short_seconds:g} s)",
                {"interval_events": short_events, "interval_seconds": short_seconds})]
    print(f"\nCHECKPOINT OVERHEAD: one worker, {args.tp_models} models on {args.partitions} partitions; warm-up "
          f"{warm_per_model * args.tp_models:,} events, then (every model calibrated) {expected:,} events produced at "
          f"once in envelopes of {args.tp_envelope} ({len(messages):,} messages, built in "
          f"{time.perf_counter() - t:.1f} s); {args.rounds} round(s)")
    runs = []
    for r in range(args.rounds):
        order = configs[r % len(configs):] + configs[:r % len(configs)]
        for label, checkpoint in order:
            run = throughput_run(args, bootstrap, workdir, label, checkpoint, warm, messages,
                                 warm_per_model * args.tp_models, expected, broker_pid)
            run["round"] = r
            runs.append(run)
            h = run["checkpoint_seconds"]
            print(f"  round {r + 1} checkpoints {label:<28} {run['rate']:>9,.0f} events/s "
                  f"{run['cpu_per_million']:>6.2f} CPU s/M ev  ({run['seconds']:.1f} s from {run['start_share']:.0%} "
                  f"to 95%; "
                  f"produced in {run['produce_seconds']:.1f} s); cold start: first event "
                  f"{run['cold_start']['first_event']:.2f} s, calibrated {run['calibration']:.1f} s later; "
                  f"{h['count']:.0f} checkpoint rounds; load {run['load']:.2f}, other processes "
                  f"{run['other_cores']:.2f} cores")
    return runs


# --------------------------------------------------------------------------- reporting

def stats(values: list[float]) -> str:
    values = [v for v in values if v == v]
    if not values:
        return f"{'-':>7} {'-':>7}"
    return f"{statistics.median(values):>7.2f} {max(values):>7.2f}"


def merged(hists: list[dict[str, Any]]) -> dict[str, Any]:
    """Histograms of several runs added up."""
    buckets: dict[float, float] = {}
    for h in hists:
        for le, n in h["buckets"]:
            buckets[le] = buckets.get(le, 0.0) + n
    return {"buckets": sorted(buckets.items()), "sum": sum(h["sum"] for h in hists),
            "count": sum(h["count"] for h in hists)}


def report_failover(fail: dict[str, Any], args: argparse.Namespace) -> bool:
    kills = fail["kills"]
    print(f"\nFAILOVER ({len(kills)} SIGKILLs, {args.workers} workers, {args.rate:,.0f} events/s, session timeout "
          f"{args.session_timeout:g} s, scrapes every {args.poll:g} s; load average at the kills "
          f"{', '.join(format(k['load'], '.1f') for k in kills) or '-'})")
    print(f"  {'seconds':<58} {'median':>7} {'max':>7}")
    for key, name in (("rebalance_wait", "rebalance wait: kill -> survivors revoke (session timeout)"),
                      ("rebalance", "rebalance: revoke -> assigned (restore included)"),
                      ("restore", "  of which restore (read the checkpoint partition, decode)"),
                      ("first_event", "first event: assigned -> taken-over partitions counted"),
                      ("total", "TOTAL: kill -> every taken-over partition processed again"),
                      ("back", "kill -> re-counted up to the kill point")):
        print(f"  {name:<58} {stats([k[key] for k in kills])}")
    if kills:
        sizes = [k["bytes"] / max(k["models"], 1) for k in kills]
        print(f"  restored per kill (median): {statistics.median([k['models'] for k in kills]):.0f} models, "
              f"{statistics.median([k['bytes'] for k in kills]) / 1024:,.0f} KiB "
              f"({statistics.median(sizes) / 1024:,.0f} KiB per model, from the 'restored partition' log lines); "
              f"events replayed (produced to the victim's partitions after their last checkpoint, before the kill): "
              f"{statistics.median([k['replayed'] for k in kills]):,.0f}; the restored checkpoint partitions' logs, "
              f"read back after each take-over: {', '.join(format(k['log_bytes'] / 2**20, '.1f') for k in kills)} MiB")
    topic = fail.get("topic")
    if topic is not None:
        live = sum(x["bytes"] for x in topic["live"])
        print(f"  checkpoint topic at the end: live state {live / 1024:,.0f} KiB; a restore reads its partition's "
              f"whole log: {topic['records']:,} records, {topic['value_bytes'] / 2**20:,.1f} MiB of values in all "
              f"partitions (superseded states and tombstones not compacted yet)")
    if "counted" not in fail:
        return False
    produced, counted = fail["produced"], fail["counted"]
    lost = sum(max(p - c, 0) for p, c in zip(produced, counted))
    double = sum(max(c - p, 0) for p, c in zip(produced, counted))
    ok = lost == 0 and double == 0 and not fail["shared"]
    if fail["shared"]:
        print(f"  !! models exported by more than one worker at the end: {fail['shared']}")
    print(f"  EXACTNESS: produced {sum(produced):,} events, the live workers count {sum(counted):,}: "
          + ("equal on every partition (none lost, none counted twice)" if ok else
             f"{lost:,} LOST and {double:,} COUNTED TWICE; per partition produced {produced}, counted {counted}"))
    return ok


def report_cold_start(fail: dict[str, Any] | None, runs: list[dict[str, Any]]) -> None:
    sources = (("alone: empty group, pre-produced stream", [r["cold_start"] for r in runs]),
               ("into the running group (the restarted victims)", fail["starts"] if fail else []))
    if not any(rows for _, rows in sources):
        return
    print(f"\nCOLD START (seconds after spawn, median)               {'serving':>7} {'others revoke':>13} "
          f"{'assigned':>9} {'first event':>12} {'max':>6}")
    for name, rows in sources:
        if rows:
            med = [statistics.median([r[k] for r in rows if r[k] == r[k]] or [float("nan")])
                   for k in ("serving", "rebalance", "assigned", "first_event")]
            med = [format(v, ".2f") if v == v else "-" for v in med]
            print(f"  {name:<50} {med[0]:>7} {med[1]:>13} {med[2]:>9} {med[3]:>12} "
                  f"{max(r['first_event'] for r in rows):>6.2f}  ({len(rows)} starts)")
    print("  (serving: /healthz answers; others revoke: the group's rebalance reaches the running workers)")


def report_overhead(runs: list[dict[str, Any]]) -> None:
    labels = list(dict.fromkeys(r["label"] for r in runs))
    print(f"\nCHECKPOINT OVERHEAD (one worker, {len(runs) // len(labels)} round(s), median of the rounds; ratios "
          f"against checkpoints off)")
    print(f"  {'checkpoints':<30} {'events/s':>10} {'ratio':>7} {'CPU s/M ev':>11} {'ratio':>7} "
          f"{'ckpt/run':>8} {'ckpt s p50':>10} {'p99':>6} {'mean':>6}")
    med = {lab: {k: statistics.median([r[k] for r in runs if r["label"] == lab])
                 for k in ("rate", "cpu_per_million")} for lab in labels}
    base = med[labels[0]]
    for lab in labels:
        rows = [r for r in runs if r["label"] == lab]
        h = merged([r["checkpoint_seconds"] for r in rows])
        mean = h["sum"] / h["count"] if h["count"] else float("nan")
        print(f"  {lab:<30} {med[lab]['rate']:>10,.0f} {med[lab]['rate'] / base['rate']:>7.1%} "
              f"{med[lab]['cpu_per_million']:>11.2f} {med[lab]['cpu_per_million'] / base['cpu_per_million']:>7.1%} "
              f"{h['count'] / len(rows):>8.1f} {quantile(h, 0.5):>10.3g} {quantile(h, 0.99):>6.3g} {mean:>6.3f}")
    print("  (ckpt: driftline_checkpoint_seconds over the whole run, warm-up included; one observation = flush + "
          "snapshot + write of every changed partition; p50/p99 are bucket upper bounds)")
    print("\nCHECKPOINT SIZE (the topic read back after the worker's graceful stop, last round)")
    for lab in labels[1:]:
        topic = [r for r in runs if r["label"] == lab][-1].get("topic")
        if topic is None:
            continue
        live = topic["live"]
        models = sum(x["models"] for x in live)
        size = sum(x["bytes"] for x in live)
        join = sum(x["join"] for x in live)
        print(f"  {lab:<30} live state {size / 1024:,.0f} KiB ({size / max(models, 1) / 1024:,.0f} KiB per model, "
              f"{models} models; {join / max(size, 1):.0%} of it the label join's predictions waiting for a label); "
              f"the topic holds {topic['records']:,} records ({topic['tombstones']:,} tombstones), "
              f"{topic['value_bytes'] / 2**20:,.1f} MiB of values")
    disturbed = [r for r in runs if r["other_cores"] > 0.5]
    if disturbed:
        print(f"\n  note: {len(disturbed)} of {len(runs)} runs shared the host with other processes using more than "
              f"half a core on average ({', '.join(format(r['other_cores'], '.2f') for r in disturbed)} cores): "
              "events/s is disturbed there, CPU s/M events less so")


# --------------------------------------------------------------------------- main

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 kills, one round, a shorter stream (~3 minutes)")
    parser.add_argument("--kafka", choices=("apache", "tansu"), default="apache",
                        help="Apache Kafka via scripts/kafka/start (default) or the embedded Tansu broker")
    parser.add_argument("--bootstrap", default=None, help="use a running broker instead of starting one")
    parser.add_argument("--workers", type=int, default=3, help="workers in the failover group (default 3)")
    parser.add_argument("--kills", type=int, default=None, help="SIGKILLs (default 5; 2 with --quick)")
    parser.add_argument("--partitions", type=int, default=6, help="partitions of the input topics (default 6)")
    parser.add_argument("--models", type=int, default=None,
                        help="models in the failover stream (default 2 per partition; 1 with --quick)")
    parser.add_argument("--rate", type=float, default=2000.0, help="events/s of the paced stream (default 2000)")
    parser.add_argument("--envelope", type=int, default=50, help="events per message, paced stream (default 50)")
    parser.add_argument("--session-timeout", type=float, default=6.0,
                        help="kafka.session_timeout_seconds of the workers (default 6, the configuration's)")
    parser.add_argument("--warmup", type=int, default=4000, help="drift.warmup_events (default 4000, as the test)")
    parser.add_argument("--events", type=int, default=None,
                        help="events of the overhead stream (default 500,000; 200,000 with --quick)")
    parser.add_argument("--tp-models", type=int, default=None,
                        help="models of the overhead stream (default 1 per partition; 3 with --quick)")
    parser.add_argument("--tp-envelope", type=int, default=250, help="events per message, overhead (default 250)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds of the overhead runs (default 2; 1 quick)")
    parser.add_argument("--short", default="10000,1", help="the short interval: events,seconds (default 10000,1)")
    parser.add_argument("--skip", choices=("failover", "overhead"), action="append", default=[])
    parser.add_argument("--poll", type=float, default=0.1, help="seconds between scrapes (default 0.1)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per wait (default 120)")
    args = parser.parse_args()
    q = args.quick
    args.kills = args.kills if args.kills is not None else (2 if q else 5)
    args.events = args.events or (200_000 if q else 500_000)
    args.rounds = args.rounds or (1 if q else 2)
    args.models = args.models or (args.partitions if q else 2 * args.partitions)
    args.tp_models = args.tp_models or (3 if q else args.partitions)
    short = args.short.split(",")
    args.short = (int(short[0]), float(short[1]))
    logging.getLogger("aiokafka").setLevel(logging.ERROR)  # produce retries while a new topic gets its leaders
    started = time.monotonic()
    print(f"broker: {args.bootstrap or args.kafka}; host CPUs: {os.cpu_count()}; load average "
          f"{os.getloadavg()[0]:.2f}; drift.warmup_events {args.warmup}")
    broker: Any = None
    broker_pid = None
    if args.bootstrap:
        bootstrap = args.bootstrap
    else:
        broker = ApacheKafka().start() if args.kafka == "apache" else EmbeddedBroker().start()
        bootstrap = broker.bootstrap_servers
        if isinstance(broker, ApacheKafka):
            broker_pid = int((broker.dir / "kafka.pid").read_text())
        else:
            broker_pid = getattr(getattr(broker, "process", None), "pid", None)
    fail: dict[str, Any] | None = None
    runs: list[dict[str, Any]] = []
    errors = []
    try:
        with tempfile.TemporaryDirectory(prefix="driftline-recovery-") as tmp:
            workdir = Path(tmp)
            if "failover" not in args.skip:
                try:
                    fail = failover(args, bootstrap, workdir)
                except (TimeoutError, RuntimeError, AssertionError) as exc:
                    errors.append(f"failover: {exc}")
                    print(f"  !! failover: {exc}")
            if "overhead" not in args.skip:
                try:
                    runs = overhead(args, bootstrap, workdir, broker_pid)
                except (TimeoutError, RuntimeError, AssertionError) as exc:
                    errors.append(f"overhead: {exc}")
                    print(f"  !! overhead: {exc}")
            ok = True
            if fail is not None:
                ok = report_failover(fail, args)
            report_cold_start(fail, runs)
            if runs:
                report_overhead(runs)
    finally:
        if broker is not None:
            broker.stop()
            if isinstance(broker, ApacheKafka):
                import shutil
                shutil.rmtree(broker.dir, ignore_errors=True)
    print(f"\ntotal run time {time.monotonic() - started:.1f} s; load average now {os.getloadavg()[0]:.2f}")
    return 0 if ok and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
