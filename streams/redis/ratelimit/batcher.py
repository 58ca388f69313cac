"""One batch in flight per worker: decisions that arrive meanwhile go in the next one.

A lone decision is sent at once by its caller (no hop through another task,
so its latency is one round trip); the decisions, releases and renewals that
arrive while a batch is in flight are sent together as the next batch, as soon
as it returns. Under load a batch therefore holds what arrived during one round
trip, and one batch at a time keeps decisions in arrival order.

It also owns what happens when Redis fails. ``fail_open``: decide locally with
this worker's share of each limit (warning logged once per outage) while a probe
watches for Redis to come back. ``fail_closed``: keep the batch and retry it
until Redis answers, so calls wait. Either way no request is dropped: every
future gets an answer, or an error only if the limiter is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from async_toolformer.streams.redis.ratelimit.config import FailurePolicy
from async_toolformer.streams.redis.ratelimit.decisions import (
    Batch,
    BoundLimit,
    Decision,
    Kind,
    Outcome,
    Status,
)
from async_toolformer.streams.redis.ratelimit.exceptions import RateLimiterUnavailableError
from async_toolformer.streams.redis.ratelimit.local import LocalDecisionStore
from async_toolformer.streams.redis.ratelimit.metrics import LimiterMetrics, observe_many
from async_toolformer.streams.redis.ratelimit.redis_store import RedisDecisionStore

__all__ = ["Answer", "DecisionBatcher"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Answer:
    outcome: Outcome
    from_redis: bool


@dataclass(slots=True)
class _Pending:
    decision: Decision
    future: asyncio.Future[Answer]
    asked_at: float


class DecisionBatcher:
    """Queue decisions, releases and renewals; send them together once per loop turn."""

    def __init__(self, redis: RedisDecisionStore, local: LocalDecisionStore, *,
                 failure_policy: FailurePolicy, metrics: LimiterMetrics, max_batch: int = 1000,
                 probe_interval_s: float = 0.25) -> None:
        self._redis = redis
        self._metrics = metrics
        self._local = local
        self._policy = failure_policy
        self._max_batch = max_batch
        self._probe_interval_s = probe_interval_s
        self._pending: list[_Pending] = []
        self._releases: list[tuple[BoundLimit, str]] = []
        self._renewals: list[tuple[BoundLimit, str]] = []
        self._busy = False  # a batch is in flight or a drainer is about to send one
        self._idle = asyncio.Event()
        self._idle.set()
        self._drainer: asyncio.Task[None] | None = None
        self._probe: asyncio.Task[None] | None = None
        self.mode = "redis"
        self.batches_sent = 0

    async def decide(self, decision: Decision) -> Answer:
        """The answer to ``decision``: sent now if nothing is in flight, else in the next batch."""
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        item = _Pending(decision, future, time.perf_counter())
        if self._busy:
            self._pending.append(item)
            return await future
        self._busy = True
        self._idle.clear()
        try:
            await self._send_one([item])
        except BaseException:
            future.cancel()  # if it is sent again later, its permits are given back
            raise
        finally:
            self._busy = False
            self._after_send()
        return await future  # done, unless fail_closed queued it again

    async def decide_many(self, decisions: Sequence[Decision]) -> list[Answer]:
        """The answers to ``decisions``, decided in order in one batch (or the next one).

        The same as many ``decide`` calls arriving in the same loop turn, without a
        waiter each: a Redis batch decides them in order, each against the state
        the ones before it left.
        """
        if not decisions:
            return []
        loop = asyncio.get_running_loop()
        asked_at = time.perf_counter()
        items = [_Pending(d, loop.create_future(), asked_at) for d in decisions]
        if self._busy:
            self._pending += items
        else:
            self._busy = True
            self._idle.clear()
            first = items[:self._max_batch]
            self._pending += items[self._max_batch:]  # the drainer sends them next
            try:
                await self._send_one(first)
            except BaseException:
                for item in items:
                    item.future.cancel()  # if sent again later, their permits are given back
                raise
            finally:
                self._busy = False
                self._after_send()
        try:
            return [await item.future for item in items]
        except BaseException:  # the caller gave up: nothing it was admitted to stays held
            for item in items:
                future = item.future
                if not future.done():
                    future.cancel()  # ``_answer`` gives its permits back
                elif not future.cancelled() and future.exception() is None:
                    answer, decision = future.result(), item.decision
                    if answer.outcome.status is Status.ADMITTED and decision.lease:
                        self.release(decision.limits, decision.lease,
                                     from_redis=answer.from_redis)
            raise

    def release(self, limits: tuple[BoundLimit, ...], lease: str, *, from_redis: bool) -> None:
        """Give back the concurrency permits of ``lease``, where they were taken."""
        held = [(limit, lease) for limit in limits if limit.params.kind is Kind.CONCURRENCY]
        if not held:
            return
        if from_redis:
            self._releases += held
            self._after_send()
        else:
            self._local.apply_now(Batch(releases=held), self._local_now())

    def renew(self, held: list[tuple[BoundLimit, str]]) -> None:
        if held and self.mode == "redis":
            self._renewals += held
            self._after_send()

    async def drain(self, timeout_s: float = 2.0) -> None:
        """Wait (up to ``timeout_s``) until everything queued so far has been sent."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()

    async def aclose(self) -> None:
        await self.drain()  # give permits back now rather than at lease expiry
        for task in (self._drainer, self._probe):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._drainer = self._probe = None
        for item in self._pending:
            if not item.future.done():
                item.future.set_exception(RateLimiterUnavailableError(
                    "the rate limiter was closed while this call waited; start it again"))
        self._pending.clear()

    def _local_now(self) -> int:
        return time.monotonic_ns() // 1000

    def _after_send(self) -> None:
        """Start a drainer for queued work, unless a batch is already on its way."""
        if self._busy:
            return
        if self._pending or self._releases or self._renewals:
            self._busy = True
            self._idle.clear()
            self._drainer = asyncio.get_running_loop().create_task(self._drain())
        else:
            self._idle.set()

    async def _drain(self) -> None:
        try:
            while self._pending or self._releases or self._renewals:
                items = self._pending[:self._max_batch]
                del self._pending[:self._max_batch]
                await self._send_one(items)
        finally:
            self._busy = False
            if not (self._pending or self._releases or self._renewals):
                self._idle.set()

    async def _send_one(self, items: list[_Pending]) -> None:
        batch = Batch([item.decision for item in items], self._releases, self._renewals)
        self._releases, self._renewals = [], []
        if self.mode != "local":
            try:
                outcomes = await self._redis.apply(batch)
            except Exception as exc:  # any failure is an outage to ride out
                if self._policy == "fail_closed":
                    self._pending[:0] = items  # keep arrival order
                    self._releases[:0] = batch.releases
                    await self._wait_for_redis(exc)
                    return
                self._enter_local(exc)
            else:
                self.batches_sent += 1
                self._answer(items, outcomes, from_redis=True)
                return
        local = Batch([item.decision for item in items])
        self._answer(items, self._local.apply_now(local, self._local_now()), from_redis=False)

    def _answer(self, items: list[_Pending], outcomes: list[Outcome], *, from_redis: bool
                ) -> None:
        now = time.perf_counter()
        asked: dict[float, int] = {}  # the decisions of one admit_many share their time
        for item, outcome in zip(items, outcomes, strict=True):
            asked[item.asked_at] = asked.get(item.asked_at, 0) + 1
            if not item.future.cancelled():
                item.future.set_result(Answer(outcome, from_redis))
            elif outcome.status is Status.ADMITTED and item.decision.lease:
                # the caller gave up while we decided: give its permits back
                self.release(item.decision.limits, item.decision.lease, from_redis=from_redis)
        for asked_at, times in asked.items():
            observe_many(self._metrics.decision_seconds, now - asked_at, times)

    def _enter_local(self, exc: Exception) -> None:
        self.mode = "local"
        self._metrics.set_mode("local")
        log.warning("rate limiter: Redis failed (%s: %s); deciding locally with this "
                    "worker's share of each limit until it answers again",
                    type(exc).__name__, exc)
        if self._probe is None or self._probe.done():
            self._probe = asyncio.get_running_loop().create_task(self._probe_until_back())

    async def _probe_until_back(self) -> None:
        while True:
            await asyncio.sleep(self._probe_interval_s)
            with contextlib.suppress(Exception):
                await self._redis.ping()
                break
        self.mode = "redis"
        self._metrics.set_mode("redis")
        log.warning("rate limiter: Redis answers again; limits are shared again")

    async def _wait_for_redis(self, exc: Exception) -> None:
        self.mode = "waiting"
        self._metrics.set_mode("waiting")
        log.warning("rate limiter: Redis failed (%s: %s); calls wait until it answers "
                    "(failure_policy fail_closed)", type(exc).__name__, exc)
        delay = 0.05
        while True:
            await asyncio.sleep(delay)
            try:
                await self._redis.ping()
            except Exception:  # still down, keep waiting
                delay = min(delay * 2, self._probe_interval_s * 4)
                continue
            break
        self.mode = "redis"
        self._metrics.set_mode("redis")
        log.warning("rate limiter: Redis answers again; waiting calls proceed")
