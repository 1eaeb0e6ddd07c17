"""Dedup against the notification log, send_resolved filtering, and recording, through the real stage chain."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from driftline.alerting.model import Status
from driftline.alerting.receiver import Receiver
from driftline.notify.dedup import DedupStage
from driftline.notify.nflog import InMemoryNotificationLog, LogEntry, alert_key
from driftline.notify.pipeline import NotificationPipeline
from driftline.notify.resolved import SendResolvedStage
from tests.unit.notify.support import T0, FakeTime, Outcomes, ScriptedChannel, alert, context, notification

A, B = alert("a"), alert("b")
A_RESOLVED = alert("a", Status.RESOLVED)
HOUR = 3600.0


def pipeline(send_resolved: bool = True, **kwargs: Any) -> tuple[NotificationPipeline, ScriptedChannel]:
    channel = ScriptedChannel(kind="slack")
    receivers = {"slack": Receiver("slack", "slack", send_resolved=send_resolved)}
    time = FakeTime()
    built = NotificationPipeline(receivers, factories={"slack": lambda r: channel}, sleep=time.sleep,
                                 clock=time.clock, **kwargs)
    return built, channel


async def test_the_same_group_twice_is_sent_once():
    p, channel = pipeline()
    assert await p.send(notification(firing=(A,)), now=T0, repeat_interval=HOUR) is not None
    assert await p.send(notification(firing=(A,)), now=T0 + 300, repeat_interval=HOUR) is None
    assert channel.calls == 1


async def test_a_new_firing_alert_is_sent():
    p, channel = pipeline()
    await p.send(notification(firing=(A,)), now=T0, repeat_interval=HOUR)
    await p.send(notification(firing=(A, B)), now=T0 + 300, repeat_interval=HOUR)
    assert channel.calls == 2
    # ... but one alert fewer (and nothing resolved) is no news
    await p.send(notification(firing=(B,)), now=T0 + 600, repeat_interval=HOUR)
    assert channel.calls == 2


async def test_unchanged_alerts_are_sent_again_after_the_repeat_interval():
    p, channel = pipeline()
    await p.send(notification(firing=(A,)), now=T0, repeat_interval=HOUR)
    await p.send(notification(firing=(A,)), now=T0 + HOUR - 1, repeat_interval=HOUR)
    assert channel.calls == 1
    await p.send(notification(firing=(A,)), now=T0 + HOUR, repeat_interval=HOUR)
    assert channel.calls == 2
    await p.send(notification(firing=(A,)), now=T0 + HOUR + 300, repeat_interval=HOUR)
    assert channel.calls == 2  # the repeat is counted from the last notification


async def test_a_resolution_is_sent_once():
    p, channel = pipeline()
    await p.send(notification(firing=(A,)), now=T0)
    await p.send(notification(resolved=(A_RESOLVED,)), now=T0 + 300)
    await p.send(notification(resolved=(A_RESOLVED,)), now=T0 + 600)
    assert channel.calls == 2 and channel.sent[1][1].resolved == (A_RESOLVED,)


async def test_a_group_that_only_resolved_was_never_notified_and_is_not_now():
    p, channel = pipeline()
    assert await p.send(notification(resolved=(A_RESOLVED,)), now=T0) is None
    assert channel.calls == 0


async def test_send_resolved_false_drops_resolved_alerts_and_empty_notifications():
    p, channel = pipeline(send_resolved=False)
    await p.send(notification(firing=(A,)), now=T0)
    assert await p.send(notification(resolved=(A_RESOLVED,)), now=T0 + 300) is None
    sent = await p.send(notification(firing=(B,), resolved=(A_RESOLVED,)), now=T0 + 600)
    assert sent is not None and sent.firing == (B,) and sent.resolved == ()
    assert [n.resolved for _, n in channel.sent] == [(), ()]


async def test_an_alert_firing_again_after_resolving_is_new_even_without_send_resolved():
    p, channel = pipeline(send_resolved=False)
    await p.send(notification(firing=(A,)), now=T0, repeat_interval=HOUR)
    await p.send(notification(resolved=(A_RESOLVED,)), now=T0 + 300, repeat_interval=HOUR)
    again = alert("a", starts_at="2026-11-23T10:30:00.000Z")
    await p.send(notification(firing=(again,)), now=T0 + 600, repeat_interval=HOUR)
    assert channel.calls == 2


async def test_groups_and_receivers_are_deduplicated_apart():
    p, channel = pipeline()
    await p.send(notification(firing=(A,), group_key="g1"), now=T0)
    await p.send(notification(firing=(A,), group_key="g2"), now=T0)
    assert channel.calls == 2


async def test_a_failed_send_is_not_recorded_so_the_next_flush_sends_again():
    from driftline.error import PermanentNotifyError

    p, channel = pipeline()
    channel.errors.append(PermanentNotifyError("HTTP 400"))
    with pytest.raises(PermanentNotifyError):
        await p.send(notification(firing=(A,)), now=T0)
    assert p.log.get("slack", notification().group_key) is None
    await p.send(notification(firing=(A,)), now=T0 + 300)
    assert channel.calls == 2 and len(channel.sent) == 1


async def test_record_stage_writes_the_entry_and_counts_success():
    outcomes = Outcomes()
    log = InMemoryNotificationLog()
    p, _ = pipeline(log=log, on_outcome=outcomes)
    await p.send(notification(firing=(A, B), resolved=(alert("c", Status.RESOLVED),)), now=T0)
    entry = log.get("slack", notification().group_key)
    assert entry is not None and entry.timestamp == T0
    assert entry.firing == tuple(sorted([alert_key(A), alert_key(B)])) and len(entry.resolved) == 1
    assert outcomes.counts == [("slack", "success")]


def test_log_entries_round_trip_through_json():
    entry = LogEntry(receiver="slack", group_key='route:{model_id="m"}', firing=("a@t", "b@t"), resolved=(),
                     timestamp=T0)
    raw = entry.encode()
    assert LogEntry.decode(raw) == entry
    assert msgspec.json.decode(raw)["firing"] == ["a@t", "b@t"]
    assert LogEntry.log_key("a", "b:c") != LogEntry.log_key("a:b", "c")


def test_in_memory_log_forgets_entries_older_than_its_retention():
    log = InMemoryNotificationLog(retention=100.0)
    log.put(LogEntry(receiver="r", group_key="old", firing=(), resolved=(), timestamp=0.0))
    log.put(LogEntry(receiver="r", group_key="new", firing=(), resolved=(), timestamp=150.0))
    assert log.gc(now=200.0) == 1 and log.get("r", "old") is None and len(log) == 1


async def test_stages_on_their_own():
    log = InMemoryNotificationLog()
    n = notification(firing=(A,), resolved=(A_RESOLVED,))
    assert (await SendResolvedStage(True).exec(context(n), n))[1] is n
    assert (await SendResolvedStage(False).exec(context(n), n))[1].resolved == ()
    assert (await DedupStage(log).exec(context(n), n))[1] is n
