"""The ``driftline`` command: worker, demo, broker, replay, check-config."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Sequence

from driftline import __version__
from driftline.config import Config
from driftline.error import DriftlineError

log = logging.getLogger("driftline.cli")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except DriftlineError as exc:
        print(f"driftline: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="driftline", description="Streaming model monitoring on Kafka.")
    parser.add_argument("--version", action="version", version=f"driftline {__version__}")
    sub = parser.add_subparsers(metavar="COMMAND")

    worker = sub.add_parser("worker", help="run a worker: consume events, monitor models, serve /metrics")
    _config_option(worker)
    worker.add_argument("--loglevel", default="info", choices=["debug", "info", "warning", "error"])
    worker.set_defaults(handler=_worker)

    demo = sub.add_parser("demo", help="embedded broker + worker + a synthetic stream with injected drift")
    demo.add_argument("--metrics-port", type=int, default=9464, help="port of the worker's /metrics (default 9464)")
    demo.add_argument("--rate", type=float, default=200.0, help="events per second per model (default 200)")
    demo.add_argument("--drift-after", type=float, default=60.0, help="seconds before drift is injected (default 60)")
    demo.add_argument("--duration", type=float, default=None, help="stop after this many seconds (default: Ctrl-C)")
    demo.set_defaults(handler=_demo)

    broker = sub.add_parser("broker", help="run the embedded Kafka-compatible broker (Tansu) on loopback")
    broker.add_argument("--port", type=int, default=9092)
    broker.set_defaults(handler=_broker)

    replay = sub.add_parser("replay", help="produce the events of a JSON-lines file to the input topics")
    replay.add_argument("file", help="JSON lines, one event (or envelope) per line; - for stdin; .gz is fine")
    _config_option(replay)
    replay.add_argument("--rate", type=float, default=None, help="at most this many events per second")
    replay.add_argument("--kind", choices=["prediction", "feature", "label"], default=None,
                        help="kind of every event (default: inferred per line)")
    replay.add_argument("--no-progress", action="store_true", help="no progress bar")
    replay.set_defaults(handler=_replay)

    check = sub.add_parser("check-config", help="validate a configuration file and exit")
    _config_option(check)
    check.set_defaults(handler=_check_config)
    return parser


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", default=None,
                        help="YAML configuration (default: $DRIFTLINE_CONFIG, else built-in defaults)")


def _setup_logging(level: str = "info") -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    logging.getLogger("driftline").setLevel(level.upper())


def _worker(args: argparse.Namespace) -> int:
    from driftline.app import DriftlineWorker

    config = Config.load(args.config)
    DriftlineWorker(config).run(loglevel=args.loglevel)
    return 0  # run() exits the process itself


def _check_config(args: argparse.Namespace) -> int:
    config = Config.load(args.config)
    source = args.config or "built-in defaults"
    print(f"{source}: ok (brokers {','.join(config.kafka.servers)}, topic prefix {config.kafka.topic_prefix})")
    return 0


def _broker(args: argparse.Namespace) -> int:
    from driftline.broker import EmbeddedBroker

    _setup_logging()
    with EmbeddedBroker(port=args.port) as broker:
        print(f"embedded broker (tansu) on {broker.bootstrap_servers}; Ctrl-C stops it", flush=True)
        _wait_for_signal()
    return 0


def _wait_for_signal() -> None:
    received = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda s, f: received.append(s))
    while not received:
        signal.pause()


def _replay(args: argparse.Namespace) -> int:
    from driftline.client import AsyncProducer
    from driftline.events.schema import EventKind
    from driftline.replay import replay

    _setup_logging("warning")
    config = Config.load(args.config)
    kind = EventKind(args.kind) if args.kind else None

    async def run() -> str:
        async with AsyncProducer.from_config(config.kafka) as producer:
            summary = await replay(args.file, producer, rate=args.rate, kind=kind, progress=not args.no_progress)
        return str(summary)

    print(asyncio.run(run()))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from driftline.demo import Demo

    _setup_logging()
    return Demo(metrics_port=args.metrics_port, rate=args.rate, drift_after=args.drift_after,
                duration=args.duration).run()
