"""The ``driftline`` command: worker, demo, broker, replay, check-config."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
from typing import Sequence

# numpy's BLAS would start a second thread that spins after each small matrix product (the PCA
# detector) and costs CPU for nothing on the hot path; set before numpy is first imported.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

from driftline import __version__  # noqa: E402
from driftline.config import Config  # noqa: E402
from driftline.error import DriftlineError  # noqa: E402

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

    check = sub.add_parser("check-config", help="validate the configuration, alert rules, routes and receivers")
    _config_option(check)
    check.set_defaults(handler=_check_config)

    routes = sub.add_parser("routes", help="the routing tree").add_subparsers(metavar="ACTION")
    routes_test = routes.add_parser("test", help="which receivers an alert with these labels would reach")
    routes_test.add_argument("labels", nargs="+", metavar="label=value")
    _config_option(routes_test)
    routes_test.set_defaults(handler=_routes_test)

    alerts = sub.add_parser("alerts", help="alerts").add_subparsers(metavar="ACTION")
    alerts_list = alerts.add_parser("list", help="the alerts firing now")
    _config_option(alerts_list)
    alerts_list.set_defaults(handler=_alerts_list)
    alerts_test = alerts.add_parser("test", help="send a test notification to a receiver")
    alerts_test.add_argument("--receiver", "-r", required=True, help="a receiver name of the routing file")
    alerts_test.add_argument("--resolve", action="store_true", help="then resolve it (closes a PagerDuty incident)")
    _config_option(alerts_test)
    alerts_test.set_defaults(handler=_alerts_test)

    rebase = sub.add_parser("rebase", help="replace a model's drift reference (from a file, or its next events)")
    rebase.add_argument("model_id")
    rebase.add_argument("--version", "-V", default=None, help="only this version (default: every version)")
    source = rebase.add_mutually_exclusive_group()
    source.add_argument("--reference", "-r", default=None, metavar="FILE",
                        help="JSON lines, CSV or Parquet of example events or feature rows")
    source.add_argument("--warmup", "-w", type=int, default=None, metavar="N",
                        help="learn the reference from the next N events (default: drift.warmup_events)")
    rebase.add_argument("--reason", "-m", default="", help="why (logged by the worker)")
    _config_option(rebase)
    rebase.set_defaults(handler=_rebase)

    silence = sub.add_parser("silence", help="silences: mute matching alerts for a while").add_subparsers(metavar="ACTION")
    silence_add = silence.add_parser("add", help="add a silence starting now")
    silence_add.add_argument("matchers", nargs="+", metavar="matcher",
                             help="label=value, label!=value, label=~regex, label!~regex")
    silence_add.add_argument("--duration", "-d", default="2h", help="how long, e.g. 30m, 2h (default 2h)")
    silence_add.add_argument("--comment", "-m", required=True, help="why (shown to everyone who looks)")
    silence_add.add_argument("--author", "-a", default=None, help="who (default: the login name)")
    _config_option(silence_add)
    silence_add.set_defaults(handler=_silence_add)
    silence_list = silence.add_parser("list", help="silences, active and pending first")
    silence_list.add_argument("--all", action="store_true", help="include expired silences")
    _config_option(silence_list)
    silence_list.set_defaults(handler=_silence_list)
    silence_expire = silence.add_parser("expire", help="end a silence now")
    silence_expire.add_argument("id")
    _config_option(silence_expire)
    silence_expire.set_defaults(handler=_silence_expire)
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
    from driftline.operator import check_config

    config = Config.load(args.config)
    report = check_config(config)
    source = args.config or "built-in defaults"
    print(f"{source}: ok (brokers {','.join(config.kafka.servers)}, topic prefix {config.kafka.topic_prefix})")
    if config.alerting.enabled:
        print(f"{config.alerting.rules}: {report.rules} rules")
        print(f"{config.alerting.routing}: {report.routes} routes, receivers {', '.join(report.receivers)}")
    return 0


def _routes_test(args: argparse.Namespace) -> int:
    from driftline.operator import parse_labels, test_routes

    matches = test_routes(Config.load(args.config), parse_labels(args.labels))
    for match in matches:
        print(f"{match.receiver}  (route {match.route_id}, group {match.group_key})")
    return 0 if matches else 1


def _alerts_list(args: argparse.Namespace) -> int:
    from driftline.operator import alert_line, firing_alerts

    firing = asyncio.run(firing_alerts(Config.load(args.config)))
    for record in firing:
        print(alert_line(record))
    print(f"{len(firing)} alerts firing")
    return 0


def _alerts_test(args: argparse.Namespace) -> int:
    from driftline.alerting.routing import RoutingConfig
    from driftline.notify.synthetic import send_test

    config = Config.load(args.config)
    routing = RoutingConfig.load(config.alerting.routing)
    receiver = routing.receivers.get(args.receiver)
    if receiver is None:
        print(f"driftline: no receiver {args.receiver!r}; receivers: {', '.join(sorted(routing.receivers))}",
              file=sys.stderr)
        return 2
    sent = asyncio.run(send_test(receiver, resolve=args.resolve))
    print(f"sent a test notification to {receiver.name} ({receiver.type}): {sent.firing[0].summary}")
    return 0


def _silence_add(args: argparse.Namespace) -> int:
    from driftline.operator import add_silence

    silence = asyncio.run(add_silence(Config.load(args.config), args.matchers, args.duration, args.comment,
                                      time.time(), author=args.author))
    print(silence.id)
    return 0


def _silence_list(args: argparse.Namespace) -> int:
    from driftline.operator import load_silences, silence_line

    now = time.time()
    silences = asyncio.run(load_silences(Config.load(args.config)))
    shown = [s for s in silences if args.all or s.ends_at.timestamp() > now]
    for silence in sorted(shown, key=lambda s: (s.ends_at.timestamp() <= now, s.starts_at)):
        print(silence_line(silence, now))
    print(f"{len(shown)} silences")
    return 0


def _silence_expire(args: argparse.Namespace) -> int:
    from driftline.operator import expire_silence

    expired = asyncio.run(expire_silence(Config.load(args.config), args.id, time.time()))
    print(f"expired {expired.id}")
    return 0


def _rebase(args: argparse.Namespace) -> int:
    from driftline.operator import request_rebase

    if args.warmup is not None and args.warmup < 1:
        print("driftline: --warmup must be at least 1", file=sys.stderr)
        return 2
    request = asyncio.run(request_rebase(Config.load(args.config), args.model_id, args.version, args.reference,
                                         args.warmup, args.reason, now=time.time()))
    what = f"to {args.reference}" if args.reference else f"from its next {args.warmup or 'drift.warmup_events'} events"
    print(f"asked the worker of {args.model_id} (partition {request.partition}) to re-base "
          f"{args.version or 'every version'} {what}")
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
