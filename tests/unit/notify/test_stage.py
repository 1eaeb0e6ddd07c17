"""The combinators: in order and stop at None, fan-out with isolated failures, routing by receiver."""

from __future__ import annotations

import asyncio

import pytest

from driftline.error import PermanentNotifyError, RetryableNotifyError
from driftline.notify.stage import FanoutStage, MultiStage, NotifyContext, RoutingStage, combine
from tests.unit.notify.support import ScriptedChannel, alert, context, notification


class Tag:
    """A stage that appends its name to a list of what ran, and optionally drops or fails."""

    def __init__(self, name: str, ran: list[str], drop: bool = False, error: Exception | None = None,
                 gate: asyncio.Event | None = None) -> None:
        self.name, self.ran, self.drop, self.error, self.gate = name, ran, drop, error, gate

    async def exec(self, ctx: NotifyContext, n: object) -> tuple[NotifyContext, object | None]:
        if self.gate is not None:
            await self.gate.wait()
        self.ran.append(self.name)
        if self.error is not None:
            raise self.error
        return ctx, None if self.drop else n


N = notification(firing=(alert(),))


async def test_multistage_runs_in_order_and_stops_at_none():
    ran: list[str] = []
    stage = MultiStage([Tag("a", ran), Tag("b", ran, drop=True), Tag("c", ran)])
    _, left = await stage.exec(context(N), N)
    assert left is None and ran == ["a", "b"]


async def test_multistage_passes_the_context_along():
    class Bump:
        async def exec(self, ctx, n):
            return NotifyContext(ctx.receiver, ctx.group_key, ctx.route_id, ctx.now, ctx.repeat_interval,
                                 ctx.attempt + 1), n

    ctx, left = await MultiStage([Bump(), Bump()]).exec(context(N), N)
    assert ctx.attempt == 2 and left is N


async def test_fanout_failure_of_one_branch_does_not_stop_the_others():
    ran: list[str] = []
    gate = asyncio.Event()
    failing = Tag("fails", ran, error=PermanentNotifyError("receiver 'a': HTTP 400"))
    slow = Tag("slow", ran, gate=gate)
    task = asyncio.ensure_future(FanoutStage([failing, slow, Tag("fast", ran)]).exec(context(N), N))
    await asyncio.sleep(0)
    assert not task.done()  # the slow branch is still going although one already failed
    gate.set()
    with pytest.raises(PermanentNotifyError, match="HTTP 400"):
        await task
    assert sorted(ran) == ["fails", "fast", "slow"]


async def test_fanout_returns_the_notification_if_any_branch_sent_it():
    ran: list[str] = []
    assert (await FanoutStage([Tag("a", ran, drop=True), Tag("b", ran)]).exec(context(N), N))[1] is N
    assert (await FanoutStage([Tag("a", ran, drop=True)]).exec(context(N), N))[1] is None


def test_combined_errors_are_retryable_only_if_all_are():
    both = combine([RetryableNotifyError("a", retry_after=3), RetryableNotifyError("b", retry_after=7)])
    assert isinstance(both, RetryableNotifyError) and both.retry_after == 7 and str(both) == "a; b"
    mixed = combine([RetryableNotifyError("a"), PermanentNotifyError("b")])
    assert isinstance(mixed, PermanentNotifyError)
    assert str(combine([RetryableNotifyError("a"), KeyError("secret-value")])) == "a; unexpected KeyError"


async def test_routing_picks_the_chain_of_the_receiver():
    slack, email = ScriptedChannel(), ScriptedChannel()

    class Send:
        def __init__(self, channel):
            self.channel = channel

        async def exec(self, ctx, n):
            await self.channel.notify(ctx, n)
            return ctx, n

    routing = RoutingStage({"slack": Send(slack), "email": Send(email)})
    await routing.exec(context(N), N)
    assert len(slack.sent) == 1 and not email.sent
    with pytest.raises(PermanentNotifyError, match="'nobody': no such receiver"):
        await routing.exec(context(notification(firing=(alert(),), receiver="nobody")), N)
