"""`driftline demo` as a user runs it: broker, worker and producer as processes, then Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from driftline.broker import free_port
from tests.support.kafka import wait_until

pytestmark = pytest.mark.e2e

STATUS = re.compile(r"\[\s*(\d+)s\] fraud-detector v7: ([\d,]+) events, lag ([\d.]+) s, amount mean ([\d.]+)"
                    r" \| churn-model v2: ([\d,]+) events")


def test_demo_shows_the_stream_and_its_drift_then_stops_cleanly_on_ctrl_c(kafka_kind):
    if kafka_kind != "tansu":
        pytest.skip("the demo always runs its own embedded broker")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "driftline", "demo", "--metrics-port", str(port), "--rate", "300",
         "--drift-after", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        statuses = wait_until(lambda: _after_drift(lines), timeout=120,
                              what="a drift alert and two status lines after the drift")
    finally:
        process.send_signal(signal.SIGINT)  # what Ctrl-C sends
        code = process.wait(timeout=60)
        reader.join(timeout=10)
    output = "".join(lines)
    assert code == 0, output
    assert f"worker metrics on http://127.0.0.1:{port}/metrics" in output
    assert "drift injected into fraud-detector" in output
    alerts = [line for line in output.splitlines() if "ALERT FIRING" in line]
    assert alerts and all(int(re.search(r"\[\s*(\d+)s\]", a).group(1)) >= 20 for a in alerts), output  # none before
    assert any("Drift in feature amount of fraud-detector v7" in a for a in alerts)
    before = [s for s in statuses if s[0] < 20]
    after = statuses[-1]
    assert before and after[1] > before[-1][1] > 0, output  # events keep flowing
    assert after[4] > before[-1][4]  # the churn model too
    assert after[3] > before[-1][3] * 1.15, output  # fraud-detector's amount drifted upwards
    assert "stopping the worker and the broker" in output and "client dropped 0" in output
    with pytest.raises(OSError):  # the worker is gone with the demo
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def _after_drift(lines: list[str]) -> list[tuple[int, int, float, float, int]] | None:
    statuses = []
    for line in list(lines):
        match = STATUS.search(line)
        if match:
            seconds, events, lag, mean, churn = match.groups()
            statuses.append((int(seconds), int(events.replace(",", "")), float(lag), float(mean),
                             int(churn.replace(",", ""))))
    drifted = [s for s in statuses if s[0] >= 20 + 5]
    alerted = any("ALERT FIRING" in line and "amount" in line for line in list(lines))
    return statuses if alerted and len(drifted) >= 2 and any(s[0] < 20 for s in statuses) else None
