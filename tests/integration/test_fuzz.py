"""Bad input never stops the stream: a real worker process fed a few hundred fuzzed messages.

:class:`~tests.support.fuzz.MessageMaker` draws, from a fixed seed, messages for all three
input topics: random bytes, JSON that is no event, tombstones, too-large and too-deeply
nested messages, events with wrong types, missing fields, bad model ids, non-finite and
far-future timestamps, envelopes that mix models or exceed the event limit, events of models
beyond ``monitoring.max_models``, and valid events with NaN, infinite and huge values, unicode,
unknown fields and out-of-order timestamps. By construction the test knows what each must
become. It then requires: every valid event counted once (per model and kind), every other
one dead-lettered once with the reason it deserves and its raw bytes, the worker alive and
healthy, and valid events sent after all of that still processed.

Set DRIFTLINE_FUZZ_SEED to replay another draw.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import time
import urllib.request
from collections import Counter

import pytest

from driftline.config import LimitsConfig
from driftline.events.decoder import Reason
from driftline.events.schema import EventKind
from driftline.events.topic import TopicNames
from tests.support.fuzz import ANY, FuzzMessage, MessageMaker
from tests.support.kafka import consume, create_topics, produce, wait_until
from tests.support.worker import WorkerProcess, worker_config

pytestmark = pytest.mark.integration

SEED = int(os.environ.get("DRIFTLINE_FUZZ_SEED", "20261124"))
MESSAGES = 300
LIMITS = {"max_message_bytes": 65536, "max_features": 20, "max_batch_events": 10}
MODELS = ("fraud", "churn", "rank.v2")


def counted(worker: WorkerProcess) -> Counter:
    """driftline_events_total summed per (model_id, kind)."""
    totals: Counter = Counter()
    for (name, labels), value in worker.metrics().items():
        if name == "driftline_events_total":
            labels = dict(labels)
            totals[labels["model_id"], labels["kind"]] += int(value)
    return totals


def metric_sum(worker: WorkerProcess, name: str) -> int:
    return int(sum(value for (sample, _), value in worker.metrics().items() if sample == name))


def expectations(messages: list[FuzzMessage]) -> tuple[Counter, Counter]:
    """The events each (model, kind) must count, and the dead-letter reasons (ANY: some reason)."""
    events: Counter = Counter()
    reasons: Counter = Counter()
    for message in messages:
        for model in message.events:
            if model in MODELS:
                events[model, message.kind.value] += 1
            else:  # a valid event of a model beyond monitoring.max_models
                reasons["model_limit"] += 1
        reasons.update(message.rejected)
    return events, reasons


async def send(bootstrap: str, topics: TopicNames, messages: list[FuzzMessage]) -> None:
    names = dict(zip(EventKind, topics.inputs))  # predictions, features, labels
    for kind in EventKind:
        await produce(bootstrap, names[kind], [(m.key, m.value) for m in messages if m.kind is kind])


def test_fuzzed_input_is_processed_or_dead_lettered_and_the_worker_stays_up(broker, prefix, tmp_path):
    topics = TopicNames(prefix)
    bootstrap = broker.bootstrap_servers
    asyncio.run(create_topics(bootstrap, [*topics.inputs, topics.deadletter], partitions=2))
    config = worker_config(bootstrap, prefix, limits=LIMITS, monitoring={"max_models": len(MODELS)})
    worker = WorkerProcess(config, tmp_path).start()
    maker = MessageMaker(random.Random(SEED), time.time(), LimitsConfig(**LIMITS), models=MODELS)
    try:
        # the models admitted first are the ones monitored: the others' events hit the model limit
        warmup = [maker.valid(EventKind.PREDICTION, model) for model in MODELS]
        asyncio.run(send(bootstrap, topics, warmup))
        wait_until(lambda: all(counted(worker)[model, "prediction"] == 1 for model in MODELS), timeout=60,
                   what=f"the warm-up events\n{worker.log_tail()}")

        fuzz = [maker.message() for _ in range(MESSAGES)]
        later = [maker.valid(kind, model, 3) for kind in EventKind for model in MODELS]
        asyncio.run(send(bootstrap, topics, fuzz + later))
        events, reasons = expectations(warmup + fuzz + later)
        dead = sum(reasons.values())
        assert dead > MESSAGES // 3 and sum(events.values()) > MESSAGES // 2, "a fair mix of good and bad"

        def settled() -> bool:
            if worker.process.poll() is not None:
                raise AssertionError(f"the worker died:\n{worker.log_tail()}")
            return counted(worker) == events and metric_sum(worker, "driftline_deadletter_written_total") == dead

        wait_until(settled, timeout=90, what=(
            f"{sum(events.values())} events counted and {dead} dead letters; "
            f"counted {counted(worker)} vs {events}\n{worker.log_tail()}"))
        assert metric_sum(worker, "driftline_events_invalid_total") == dead

        letters = [json.loads(record.value) for record in asyncio.run(consume(bootstrap, topics.deadletter, dead))]
        assert len(letters) == dead
        got = Counter(letter["reason"] for letter in letters)
        wildcards = reasons.pop(ANY, 0)
        assert not reasons - got and sum(got.values()) == sum(reasons.values()) + wildcards, (got, reasons)
        for letter in letters:
            assert letter["reason"] in {r.value for r in Reason} and letter["detail"]
            assert letter["topic"] in topics.inputs and letter["offset"] >= 0 and letter["partition"] in (0, 1)
            base64.b64decode(letter["raw"], validate=True)

        # still consuming: events sent after all of it are counted too
        asyncio.run(send(bootstrap, topics, [maker.valid(EventKind.LABEL, "churn", 5)]))
        wait_until(lambda: counted(worker)["churn", "label"] == events["churn", "label"] + 5, timeout=30,
                   what=f"events after the fuzz\n{worker.log_tail()}")
        with urllib.request.urlopen(worker.metrics_url.replace("/metrics", "/healthz"), timeout=5) as response:
            assert response.status == 200
    finally:
        code = worker.stop()
    assert code == 0, worker.log_tail()
    assert "Traceback" not in worker.log_path.read_text(), worker.log_tail(80)
