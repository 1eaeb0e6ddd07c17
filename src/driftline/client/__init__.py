"""The producer SDK that services use to emit events (DESIGN.md §1–2).

``emit_*`` never raises into and never blocks the caller's request path: it encodes
the event, appends it to a bounded buffer and returns True, or returns False and
counts the drop under a :class:`DropReason`. A background task sends one batched
envelope ``{"events": [...]}`` per (topic, model_id), keyed by the model_id::

    async with AsyncProducer("kafka:9092") as producer:
        producer.emit_prediction("fraud-detector", {"amount": 129.5}, 1, request_id="a1b2c3")

:class:`Producer` is the same for threaded services; it runs an :class:`AsyncProducer`
on an event loop in a daemon thread. See docs/client.md.

>>> batcher = EventBatcher(max_events=2, max_bytes=1000, linger_seconds=0.05)
>>> for i in range(3):
...     _ = batcher.add("driftline.labels", "m", b'{"n":%d}' % i, now=0.0)
>>> [b.envelope() for b in batcher.ready], batcher.due(now=0.05), [b.count for b in batcher.ready]
([b'{"events":[{"n":0},{"n":1}]}'], None, [2, 1])
"""

from driftline.client.batch import Batch, EventBatcher
from driftline.client.encoding import MAX_MESSAGE_BYTES, EncodedEvent, encode_event
from driftline.client.producer import AsyncProducer
from driftline.client.sync import Producer
from driftline.client.tally import DropReason, ProducerStats

__all__ = [
    "MAX_MESSAGE_BYTES",
    "AsyncProducer",
    "Batch",
    "DropReason",
    "EncodedEvent",
    "EventBatcher",
    "Producer",
    "ProducerStats",
    "encode_event",
]
