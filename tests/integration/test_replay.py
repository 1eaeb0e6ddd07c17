"""``driftline replay``: a JSON-lines file (plain, .gz or stdin) ends up on the input topics, exactly."""

from __future__ import annotations

import gzip
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from driftline.client import AsyncProducer
from driftline.config import KafkaConfig, LimitsConfig
from driftline.events.decoder import EventDecoder
from driftline.events.schema import EventKind
from driftline.events.topic import TopicNames
from driftline.replay import replay
from tests.support.kafka import consume, create_topics

pytestmark = pytest.mark.integration

TS = time.time() - 3600


def replay_lines() -> tuple[list[str], dict[str, set[str]], list[int]]:
    """The file's lines, the request_ids each topic must hold, and the numbers of the bad lines."""
    predictions = [{"model_id": f"model-{i % 2}", "ts": TS, "features": {"x": float(i)}, "prediction": i % 2,
                    "request_id": f"p{i}"} for i in range(300)]
    labels = [{"model_id": f"model-{i % 2}", "request_id": f"p{i}", "label": 1, "ts": TS} for i in range(100)]
    features = [{"model_id": "model-0", "ts": TS, "features": {"x": 1.0, "y": "DE"}, "request_id": f"f{i}"}
                for i in range(50)]
    envelope = {"events": [{"model_id": "model-1", "ts": TS, "features": {"x": 2.0}, "prediction": 1,
                            "request_id": f"e{i}"} for i in range(5)]}
    lines = [json.dumps(e) for e in predictions[:150]] + ["", "   "] + [json.dumps(e) for e in labels]
    lines += ["{not json", json.dumps(envelope), "[1, 2, 3]"] + [json.dumps(e) for e in features + predictions[150:]]
    lines += [""]
    bad = [i + 1 for i, line in enumerate(lines) if line in ("{not json", "[1, 2, 3]")]
    expected = {
        "prediction": {f"p{i}" for i in range(300)} | {f"e{i}" for i in range(5)},
        "label": {f"p{i}" for i in range(100)},
        "feature": {f"f{i}" for i in range(50)},
    }
    return lines, expected, bad


def write_source(tmp_path: Path, lines: list[str], source: str, monkeypatch: pytest.MonkeyPatch) -> str:
    data = ("\n".join(lines) + "\n").encode()
    if source == "stdin":
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
        return "-"
    path = tmp_path / ("events.jsonl.gz" if source == "gz" else "events.jsonl")
    path.write_bytes(gzip.compress(data) if source == "gz" else data)
    return str(path)


async def topic_request_ids(bootstrap: str, topic: str, kind: EventKind, events: int) -> list[str]:
    """The request_ids of the first ``events`` events on ``topic``; every record must decode cleanly."""
    decoder = EventDecoder(kind, LimitsConfig())
    messages = 1
    while True:
        decoded: list[Any] = []
        records = await consume(bootstrap, topic, messages)
        for record in records:
            out = decoder.decode(record.value, time.time())
            assert out.rejected == [] and {e.model_id for e in out.events} == {record.key.decode()}
            decoded.extend(out.events)
        if len(decoded) >= events:
            return [event.request_id for event in decoded]
        messages = len(records) + 1


@pytest.mark.parametrize("source", ["plain", "gz", "stdin"])
async def test_replay_sends_every_event_of_the_file_once(bootstrap: str, prefix: str, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch, source: str) -> None:
    lines, expected, bad = replay_lines()
    path = write_source(tmp_path, lines, source, monkeypatch)
    topics = TopicNames(prefix)
    await create_topics(bootstrap, list(topics.inputs), partitions=2)
    progress = io.StringIO()
    config = KafkaConfig(bootstrap_servers=bootstrap, topic_prefix=prefix)
    # a buffer far smaller than the file: send() must wait for room rather than drop
    async with AsyncProducer.from_config(config, max_buffer_events=20, max_batch_events=10) as producer:
        summary = await replay(path, producer, rate=20_000, progress=True, stream=progress)
    assert summary.lines == len(lines)
    assert summary.sent_by_kind == {kind: len(ids) for kind, ids in expected.items()}
    assert (summary.skipped, summary.skipped_lines, summary.dropped) == (2, bad, 0)
    assert producer.stats.dropped == {} and producer.stats.sent == sum(map(len, expected.values()))
    assert f"Skipped 2 lines that are not JSON objects (lines {bad[0]}, {bad[1]})" in str(summary)
    assert "lines" in progress.getvalue()
    for kind, topic in ((EventKind.PREDICTION, topics.predictions), (EventKind.FEATURE, topics.features),
                        (EventKind.LABEL, topics.labels)):
        request_ids = await topic_request_ids(bootstrap, topic, kind, len(expected[kind.value]))
        assert sorted(request_ids) == sorted(expected[kind.value])
