"""RetryStage on an injected clock and sleeper: what is retried, how long it waits, when it gives up."""

from __future__ import annotations

import random

import pytest

from driftline.error import PermanentNotifyError, RetryableNotifyError
from driftline.notify.retry import RetryPolicy, RetryStage
from tests.unit.notify.support import FakeTime, Outcomes, ScriptedChannel, alert, assert_error, context, notification

N = notification(firing=(alert(),))
POLICY = RetryPolicy(initial_delay=1.0, multiplier=2.0, max_delay=8.0, max_elapsed=30.0, jitter=0.0)


def stage(channel: ScriptedChannel, policy: RetryPolicy = POLICY, seed: int = 0) -> tuple[RetryStage, FakeTime, Outcomes]:
    time, outcomes = FakeTime(), Outcomes()
    retry = RetryStage(channel, policy=policy, on_outcome=outcomes, sleep=time.sleep, clock=time.clock,
                       rng=random.Random(seed))
    return retry, time, outcomes


async def test_a_429_waits_for_its_retry_after():
    channel = ScriptedChannel([RetryableNotifyError("HTTP 429", retry_after=7.0)])
    retry, time, outcomes = stage(channel)
    ctx, sent = await retry.exec(context(N), N)
    assert sent is N and time.sleeps == [7.0] and channel.calls == 2 and ctx.attempt == 2
    assert outcomes.counts == [("fake", "retry")]


async def test_5xx_is_retried_with_growing_waits_until_max_elapsed():
    channel = ScriptedChannel([RetryableNotifyError("HTTP 503") for _ in range(100)])
    retry, time, outcomes = stage(channel)
    with pytest.raises(RetryableNotifyError, match=r"gave up after 6 attempt\(s\) in 23.0s: HTTP 503") as info:
        await retry.exec(context(N), N)
    assert time.sleeps == [1.0, 2.0, 4.0, 8.0, 8.0]  # capped at max_delay; one more 8 s would end past 30 s
    assert channel.calls == 6 and time.now <= POLICY.max_elapsed
    assert outcomes.counts == [("fake", "retry")] * 5 + [("fake", "failure")]
    assert isinstance(info.value.__cause__, RetryableNotifyError)


async def test_a_retry_after_beyond_the_budget_gives_up_at_once():
    channel = ScriptedChannel([RetryableNotifyError("HTTP 429", retry_after=3600.0)])
    retry, time, _ = stage(channel)
    with pytest.raises(RetryableNotifyError) as info:
        await retry.exec(context(N), N)
    assert time.sleeps == [] and info.value.retry_after == 3600.0


async def test_a_400_is_not_retried():
    channel = ScriptedChannel([PermanentNotifyError("HTTP 400: invalid event")])
    retry, time, outcomes = stage(channel)
    with pytest.raises(PermanentNotifyError, match="invalid event"):
        await retry.exec(context(N), N)
    assert channel.calls == 1 and time.sleeps == [] and outcomes.counts == [("fake", "failure")]


async def test_connection_errors_are_retried():
    channel = ScriptedChannel([RetryableNotifyError("ClientConnectorError: refused")] * 2)
    retry, time, outcomes = stage(channel)
    await retry.exec(context(N), N)
    assert channel.calls == 3 and time.sleeps == [1.0, 2.0]


async def test_an_unexpected_exception_is_permanent_and_not_quoted():
    channel = ScriptedChannel([KeyError("xoxb-secret")])
    retry, _, outcomes = stage(channel)
    with pytest.raises(PermanentNotifyError) as info:
        await retry.exec(context(N), N)
    assert_error(info.value, PermanentNotifyError)
    assert "xoxb-secret" not in str(info.value) and "unexpected KeyError" in str(info.value)
    assert outcomes.counts == [("fake", "failure")]


async def test_jitter_is_seeded_and_bounded():
    policy = RetryPolicy(initial_delay=1.0, multiplier=2.0, max_delay=100.0, max_elapsed=1000.0, jitter=0.5)
    runs = []
    for _ in range(2):
        channel = ScriptedChannel([RetryableNotifyError("HTTP 500")] * 5)
        retry, time, _ = stage(channel, policy, seed=42)
        await retry.exec(context(N), N)
        runs.append(time.sleeps)
    assert runs[0] == runs[1]
    for n, wait in enumerate(runs[0]):
        assert 0.5 * 2 ** n <= wait <= 1.5 * 2 ** n


def test_a_policy_checks_its_numbers():
    with pytest.raises(ValueError):
        RetryPolicy(jitter=1.0)
    with pytest.raises(ValueError):
        RetryPolicy(multiplier=0.5)
