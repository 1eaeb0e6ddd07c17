"""A synthetic drifting stream for a running driftline: the compose stack's ``demo`` profile.

Two models emit predictions through :mod:`driftline.client` (batched, as services do):

- ``fraud-detector v7``: its ``amount`` and ``country`` drift after ``--drift-after`` seconds
  (data drift), and its outcomes stop following its scores then (concept drift); half of its
  predictions get a label ``--label-delay`` seconds later;
- ``churn-model v2``: stays as it is, for contrast.

Now and then a malformed event shows the dead-letter path. It runs until SIGINT or SIGTERM
(or ``--duration`` seconds) and prints one line of progress every 10 s.

The stream itself is :class:`driftline.demo.SyntheticStream`, the one ``driftline demo`` uses;
unlike ``driftline demo`` this starts no broker and no worker: it feeds those of the compose
stack (``docker compose --profile demo up``), or any others (``tests/e2e/test_dashboards.py``
and ``scripts/render-dashboards`` run it against a test broker).

    python deploy/demo_producer.py --bootstrap kafka:9092 --rate 200 --drift-after 300
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import sys
import time
from collections import deque

from driftline.client import AsyncProducer
from driftline.demo import SyntheticStream

TICK_SECONDS = 0.05
PROGRESS_SECONDS = 10.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers, e.g. kafka:9092")
    parser.add_argument("--topic-prefix", default="driftline", help="the workers' kafka.topic_prefix")
    parser.add_argument("--rate", type=float, default=200.0, help="predictions per second per model")
    parser.add_argument("--drift-after", type=float, default=300.0, help="seconds before fraud-detector drifts")
    parser.add_argument("--label-delay", type=float, default=3.0, help="seconds from a prediction to its label")
    parser.add_argument("--invalid-every", type=float, default=10.0,
                        help="about one malformed event per this many seconds (0: none)")
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args(argv)


async def produce(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if args.duration is not None:
        loop.call_later(args.duration, stop.set)
    stream = SyntheticStream(random.Random(args.seed))
    rng = random.Random(args.seed + 1)
    labels: deque[tuple[float, str, int]] = deque()
    started = next_progress = time.monotonic()
    carry = 0.0
    async with AsyncProducer(args.bootstrap, topic_prefix=args.topic_prefix,
                             client_id="driftline-demo-producer") as producer:
        print(f"demo producer: {args.rate:g} predictions/s per model to {args.bootstrap} "
              f"({args.topic_prefix}.*); fraud-detector drifts after {args.drift_after:g} s", flush=True)
        while not stop.is_set():
            now = time.monotonic()
            if not stream.drifted and now - started >= args.drift_after:
                stream.drifted = True
                print(f"demo producer: [{now - started:5.0f}s] drift injected into fraud-detector", flush=True)
            carry += args.rate * TICK_SECONDS
            count, carry = int(carry), carry - int(carry)
            for _ in range(count):
                request_id, features, outcome, score = stream.fraud()
                producer.emit_prediction("fraud-detector", features, int(score > 0.5), model_version="v7",
                                         request_id=request_id, scores={"0": 1 - score, "1": score})
                if rng.random() < 0.5:
                    labels.append((now + args.label_delay, request_id, outcome))
                churn_features, churn_score = stream.churn()
                producer.emit_prediction("churn-model", churn_features, int(churn_score > 0.5), model_version="v2",
                                         scores={"0": 1 - churn_score, "1": churn_score})
            while labels and labels[0][0] <= now:
                _, request_id, outcome = labels.popleft()
                producer.emit_label("fraud-detector", request_id, outcome)
            if args.invalid_every > 0 and rng.random() < TICK_SECONDS / args.invalid_every:
                producer.emit("prediction", {"model_id": "fraud-detector", "ts": "not a time", "features": {},
                                             "prediction": 0})
            if now >= next_progress + PROGRESS_SECONDS:
                next_progress = now
                print(f"demo producer: [{now - started:5.0f}s] {stream.sequence:,} fraud-detector predictions, "
                      f"dropped {producer.dropped_total}", flush=True)
            try:
                await asyncio.wait_for(stop.wait(), timeout=TICK_SECONDS)
            except asyncio.TimeoutError:
                pass
        await producer.flush(timeout=5)
    print(f"demo producer: stopped after {stream.sequence:,} fraud-detector predictions; "
          f"dropped {producer.dropped_total}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(produce(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
