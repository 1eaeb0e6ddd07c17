"""The outbox: a receiver that is down or slow delays only its own notifications, which keep their order."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from driftline.alerting.group import Notification
from driftline.alerting.receiver import Receiver
from driftline.error import PermanentNotifyError, RetryableNotifyError
from driftline.notify.outbox import Outbox
from driftline.notify.pipeline import Delivery, NotificationPipeline
from driftline.notify.retry import RetryPolicy
from driftline.notify.stage import NotifyContext
from tests.support.kafka import async_wait_until
from tests.unit.notify.support import FakeTime, ScriptedChannel, alert, notification

GIVE_UP_AT_ONCE = RetryPolicy(max_elapsed=0)  # RetryStage gives up after one attempt: the outbox retries


@dataclass
class HangingChannel:
    """Takes notifications and answers none until released."""

    kind: str = "fake"
    release: asyncio.Event = field(default_factory=asyncio.Event)
    started: list[Notification] = field(default_factory=list)

    async def notify(self, ctx: NotifyContext, n: Notification) -> None:
        self.started.append(n)
        await self.release.wait()


def outbox_of(channels: dict, time: FakeTime, done: list[Delivery], pause: float = 60.0,
              retry: RetryPolicy = GIVE_UP_AT_ONCE) -> Outbox:
    receivers = {name: Receiver(name, "webhook") for name in channels}
    pipeline = NotificationPipeline(receivers, factories={"webhook": lambda r: channels[r.name]}, retry=retry,
                                    sleep=time.sleep, clock=time.clock)
    return Outbox(pipeline, clock=time.clock, sleep=time.sleep, on_done=done.append, pause=pause)


def to(receiver: str, i: int) -> Notification:
    return notification(firing=(alert(f"fp{i}"),), receiver=receiver, group_key=f"g{i}")


async def test_a_receiver_that_hangs_does_not_hold_up_another():
    hanging, working = HangingChannel(), ScriptedChannel()
    done: list[Delivery] = []
    outbox = outbox_of({"mail": hanging, "chat": working}, FakeTime(), done)
    outbox.put(to("mail", 1), 3600.0)
    outbox.put(to("chat", 2), 3600.0)
    outbox.put(to("chat", 3), 3600.0)
    await async_wait_until(lambda: len(done) == 2, timeout=5, what="chat's notifications")
    assert [d.notification.group_key for d in done] == ["g2", "g3"] and all(d.sent for d in done)
    assert len(hanging.started) == 1 and outbox.pending() == [to("mail", 1)]
    hanging.release.set()
    await async_wait_until(lambda: len(done) == 3, timeout=5, what="mail's notification")
    assert outbox.pending() == []


async def test_an_outage_delays_a_receivers_notifications_which_then_go_in_order_each_once():
    channel = ScriptedChannel([RetryableNotifyError("HTTP 503")] * 5)
    time, done = FakeTime(), []
    outbox = outbox_of({"chat": channel}, time, done)
    for i in range(4):
        outbox.put(to("chat", i), 3600.0)
    await async_wait_until(lambda: len(done) == 4, timeout=5, what="every notification")
    assert [n.group_key for _, n in channel.sent] == ["g0", "g1", "g2", "g3"]
    assert channel.calls == 5 + 4
    assert time.sleeps == [60.0] * 5, "the head waits a pause between rounds of RetryStage"
    assert [ctx.now for ctx, _ in channel.sent] == [300.0] * 4, "sent at the time it went out, not when flushed"


async def test_retry_after_longer_than_the_pause_is_honoured():
    channel = ScriptedChannel([RetryableNotifyError("HTTP 429", retry_after=120.0), RetryableNotifyError("HTTP 503")])
    time, done = FakeTime(), []
    outbox_of({"chat": channel}, time, done).put(to("chat", 1), 3600.0)
    await async_wait_until(lambda: done, timeout=5, what="the notification")
    assert time.sleeps == [120.0, 60.0]


async def test_retry_stage_retries_first_and_the_outbox_after_it_gives_up():
    channel = ScriptedChannel([RetryableNotifyError("HTTP 503")] * 4)
    time, done = FakeTime(), []
    policy = RetryPolicy(initial_delay=1.0, multiplier=2.0, max_delay=10.0, max_elapsed=5.0, jitter=0.0)
    outbox_of({"chat": channel}, time, done, pause=30.0, retry=policy).put(to("chat", 1), 3600.0)
    await async_wait_until(lambda: done, timeout=5, what="the notification")
    assert time.sleeps == [1.0, 2.0, 30.0, 1.0], "backoff 1, 2 (then 4 would pass 5 s: give up), pause, backoff"


async def test_a_permanent_failure_is_reported_and_the_next_one_goes():
    channel = ScriptedChannel([PermanentNotifyError("HTTP 400")])
    time, done = FakeTime(), []
    outbox = outbox_of({"chat": channel}, time, done)
    outbox.put(to("chat", 1), 3600.0)
    outbox.put(to("chat", 2), 3600.0)
    await async_wait_until(lambda: len(done) == 2, timeout=5, what="both reported")
    assert isinstance(done[0].error, PermanentNotifyError) and done[0].sent is None
    assert done[1].sent == to("chat", 2) and time.sleeps == []


async def test_nothing_to_send_is_reported_as_done_without_a_send():
    channel = ScriptedChannel()
    time, done = FakeTime(), []
    outbox = outbox_of({"chat": channel}, time, done)
    outbox.put(to("chat", 1), 3600.0)
    outbox.put(to("chat", 1), 3600.0)  # the same alerts again: the dedup stage stops it
    await async_wait_until(lambda: len(done) == 2, timeout=5, what="both reported")
    assert done[1].sent is None and done[1].error is None and len(channel.sent) == 1


async def test_close_drops_what_is_pending_unreported():
    hanging = HangingChannel()
    done: list[Delivery] = []
    outbox = outbox_of({"mail": hanging}, FakeTime(), done)
    outbox.put(to("mail", 1), 3600.0)
    outbox.put(to("mail", 2), 3600.0)
    await async_wait_until(lambda: hanging.started, timeout=5, what="the first delivery to start")
    assert outbox.pending() == [to("mail", 1), to("mail", 2)] and outbox.waiting("mail") == 2
    await outbox.close()
    assert outbox.pending() == [] and done == []
    outbox.put(to("mail", 3), 3600.0)  # usable again afterwards
    hanging.release.set()
    await async_wait_until(lambda: done, timeout=5, what="a delivery after close")
    assert done[0].notification == to("mail", 3)
