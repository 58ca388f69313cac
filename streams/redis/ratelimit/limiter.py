"""The rate limiter the executor calls: ``async with limiter.admit(quota): run()``.

A call no limit applies to passes without touching Redis. Others ask for all
their limits in one decision (batched with the calls that arrive while the
previous batch is in flight). If refused, a ``wait`` limit queues the call
behind the earlier waiters of the refusing limit's key (arrival order per key
within this worker; other keys are unaffected); only the head of each queue
retries, once the retry-after Redis returned has passed, or sooner when this
worker releases a permit of that key. A ``reject`` limit raises
:class:`RateLimitedError` at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import secrets
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from redis.asyncio import Redis

from async_toolformer.streams.redis.client import redis_client, redis_security_options
from async_toolformer.streams.redis.ratelimit.batcher import Answer, DecisionBatcher
from async_toolformer.streams.redis.ratelimit.config import FailurePolicy, LimitsConfig
from async_toolformer.streams.redis.ratelimit.decisions import BoundLimit, Decision, Kind, Status
from async_toolformer.streams.redis.ratelimit.exceptions import (
    QuotaTooLargeError,
    RateLimitedError,
    RateLimiterUnavailableError,
)
from async_toolformer.streams.redis.ratelimit.local import LocalDecisionStore
from async_toolformer.streams.redis.ratelimit.metrics import LimiterMetrics, observe_many
from async_toolformer.streams.redis.ratelimit.policy import (
    GLOBAL_SUBJECT,
    LimitResolver,
    bind,
    key_pattern,
    limit_key,
)
from async_toolformer.streams.redis.ratelimit.redis_store import RedisDecisionStore
from async_toolformer.streams.redis.ratelimit.snapshot import LimitState, state_of
from async_toolformer.streams.worker.settings import Settings

__all__ = ["DEFAULT_REDIS_URL", "CallQuota", "Permit", "RateLimiter"]

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
_FREE: AbstractAsyncContextManager[None] = contextlib.nullcontext()


@dataclass(frozen=True, slots=True)
class CallQuota:
    """What the limiter needs to know about one call."""

    tool: str
    service: str | None = None
    tenant: str = "default"
    cost: float = 1.0


class _KeyQueue:
    """Waiters of one limit key: a FIFO lock (asyncio.Lock does not let newcomers
    barge past waiters) and a wake-up for permits released by this worker."""

    __slots__ = ("lock", "released", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.released = asyncio.Event()
        self.users = 0

    async def nap(self, seconds: float) -> None:
        self.released.clear()
        try:
            async with asyncio.timeout(seconds):
                await self.released.wait()
        except TimeoutError:
            # On Python 3.11 a cancellation that lands as the nap runs out can
            # come out as this TimeoutError; swallowing it would admit a call
            # whose caller has given up.
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise asyncio.CancelledError from None


class RateLimiter:
    """Admits calls under the limits of ``config``, shared through Redis.

    ``metrics``: where decisions are counted (a worker passes those of the
    registry its ``/metrics`` serves); without, a registry of the limiter's own.
    """

    def __init__(self, config: LimitsConfig, redis: Redis, *, worker_share: float | None = None,
                 failure_policy: FailurePolicy | None = None, decision_timeout_s: float = 1.0,
                 max_batch: int = 1000, probe_interval_s: float = 0.25,
                 metrics: LimiterMetrics | None = None) -> None:
        self.config = config
        self.metrics = metrics if metrics is not None else LimiterMetrics()
        self._redis = redis
        self._owns_redis = False
        self._resolver = LimitResolver(config)
        self._store = RedisDecisionStore(redis, timeout_s=decision_timeout_s)
        self._batcher = DecisionBatcher(
            self._store,
            LocalDecisionStore(share=config.worker_share if worker_share is None else worker_share),
            failure_policy=failure_policy or config.failure_policy, metrics=self.metrics,
            max_batch=max_batch, probe_interval_s=probe_interval_s)
        self._queues: dict[str, _KeyQueue] = {}
        self._held: dict[str, tuple[BoundLimit, ...]] = {}  # Redis leases to renew
        self._renewer: asyncio.Task[None] | None = None
        self._lease_ids = map(f"{secrets.token_hex(4)}:{{}}".format, itertools.count())
        self._counters: dict[tuple[str, str, str], Any] = {}

    @classmethod
    def from_settings(cls, config: LimitsConfig, settings: Settings,
                      **options: Any) -> RateLimiter:
        """A limiter on ``settings.redis_url`` (``REDIS_URL``) that closes its own client."""
        url = settings.redis_url or DEFAULT_REDIS_URL
        limiter = cls(config, redis_client(url, **redis_security_options(settings)), **options)
        limiter._owns_redis = True
        return limiter

    @property
    def mode(self) -> str:
        """``redis``, ``local`` (fail_open fallback) or ``waiting`` (fail_closed)."""
        return self._batcher.mode

    def admit(self, quota: CallQuota) -> AbstractAsyncContextManager[None]:
        """Enter when the call may run; concurrency permits are given back on exit."""
        limits = self._resolver.resolve(quota.tool, quota.service, quota.tenant)
        if not limits:
            return _FREE
        return _Admission(self, limits, quota.cost)

    async def admit_many(self, quotas: Sequence[CallQuota]) -> list[Permit | None]:
        """Admit the calls that may run now, all in one decision; release each permit
        when its call ends.

        The decision is the one ``admit`` makes for calls that arrive together:
        Redis decides them in order, each against what the ones before it took.
        ``None`` for a call that may not run yet (refused, or behind waiters of
        its key in this worker): enter ``admit(quota)`` for it, which queues it
        (or raises for a ``reject`` limit) as for any other call.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        permits: list[Permit | None] = [None] * len(quotas)
        asked: list[int] = []
        decisions: list[Decision] = []
        for index, quota in enumerate(quotas):
            limits = self._resolver.resolve(quota.tool, quota.service, quota.tenant)
            if not limits:
                permits[index] = _FREE_PERMIT
            elif self._queued_key(limits) is None:  # else it queues behind earlier waiters
                asked.append(index)
                decisions.append(Decision(limits, quota.cost, self._lease_for(limits)))
        answers = await self._batcher.decide_many(decisions)
        tally: dict[tuple[int, bool], tuple[tuple[BoundLimit, ...], int]] = {}
        for index, decision, answer in zip(asked, decisions, answers, strict=True):
            if answer.outcome.status is Status.ADMITTED:
                limits, lease, from_redis = decision.limits, decision.lease, answer.from_redis
                permits[index] = Permit(self, limits, lease, from_redis)
                key = (id(limits), from_redis)  # hashing the limits would cost more
                tally[key] = (limits, tally[key][1] + 1 if key in tally else 1)
                if lease and from_redis:
                    self._held[lease] = limits
        for (_, from_redis), (limits, times) in tally.items():  # counted as ``admit`` counts
            for limit in limits:
                self._count(limit.name, "admitted", "redis" if from_redis else "local", times)
            observe_many(self.metrics.wait_seconds, loop.time() - started, times)
        if self._held and (self._renewer is None or self._renewer.done()):
            self._renewer = loop.create_task(self._renew_forever())
        return permits

    async def snapshot(self) -> list[LimitState]:
        """Every limit key's state from Redis (``limits show``)."""
        namespace = self.config.namespace
        await self._batcher.drain()  # releases of calls that just ended
        try:
            bound: list[tuple[Any, BoundLimit, str]] = []
            for limit in self.config.limits:
                if limit.scope == "global" or limit.match != "*":
                    subjects = [GLOBAL_SUBJECT if limit.scope == "global" else limit.match]
                else:
                    prefix = limit_key(namespace, limit, "")
                    found = await self._store.keys_matching(key_pattern(namespace, limit))
                    subjects = [key[len(prefix):] for key in found]
                bound += [(limit, bind(namespace, limit, s), s) for s in subjects]
            now, raw = await self._store.peek([b for _, b, _ in bound])
        except Exception as exc:
            raise RateLimiterUnavailableError(
                f"could not read the limits from Redis ({type(exc).__name__}: {exc}); "
                "check REDIS_URL and that Redis is up") from exc
        return [state_of(limit, b, s, r, now) for (limit, b, s), r in zip(bound, raw, strict=True)]

    async def aclose(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
            self._renewer = None
        await self._batcher.aclose()
        if self._owns_redis:
            await self._redis.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def _acquire(self, limits: tuple[BoundLimit, ...], cost: float, lease: str) -> bool:
        """Wait for admission; True if Redis admitted (False: the local fallback did)."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        decision = Decision(limits, cost, lease)
        retry_at = 0.0  # loop time before which a retry would be refused again
        key = self._queued_key(limits)
        if key is None:
            answer = await self._batcher.decide(decision)
            if answer.outcome.status is Status.ADMITTED:
                return self._admitted(limits, lease, answer, started)
            key, retry_at = self._refused(limits, cost, answer)
        while True:
            queue = self._queues.get(key)
            if queue is None:
                queue = self._queues[key] = _KeyQueue()
            queue.users += 1
            try:
                async with queue.lock:
                    while True:
                        if (nap := retry_at - loop.time()) > 0:  # what is left of it
                            await queue.nap(nap)
                        answer = await self._batcher.decide(decision)
                        if answer.outcome.status is Status.ADMITTED:
                            return self._admitted(limits, lease, answer, started)
                        next_key, retry_at = self._refused(limits, cost, answer)
                        if next_key != key:
                            break  # another limit holds it up now: queue there
            finally:
                queue.users -= 1
                if not queue.users:
                    del self._queues[key]
            key = next_key

    def _lease_for(self, limits: tuple[BoundLimit, ...]) -> str:
        """A lease name if the call takes concurrency permits, else ""."""
        if any(limit.params.kind is Kind.CONCURRENCY for limit in limits):
            return next(self._lease_ids)
        return ""

    def _queued_key(self, limits: tuple[BoundLimit, ...]) -> str | None:
        if self._queues:
            for limit in limits:
                if not limit.reject and limit.key in self._queues:
                    return limit.key
        return None

    def _admitted(self, limits: tuple[BoundLimit, ...], lease: str, answer: Answer,
                  started: float) -> bool:
        source = "redis" if answer.from_redis else "local"
        for limit in limits:
            self._count(limit.name, "admitted", source)
        self.metrics.wait_seconds.observe(asyncio.get_running_loop().time() - started)
        if lease and answer.from_redis:
            self._held[lease] = limits
            if self._renewer is None or self._renewer.done():
                self._renewer = asyncio.get_running_loop().create_task(self._renew_forever())
        return answer.from_redis

    def _refused(self, limits: tuple[BoundLimit, ...], cost: float, answer: Answer
                 ) -> tuple[str, float]:
        """Raise for reject/never; else the key to queue on and when to try again."""
        outcome, source = answer.outcome, "redis" if answer.from_redis else "local"
        limit = limits[outcome.limiting]
        if outcome.status is Status.NEVER:
            self._count(limit.name, "rejected", source)
            raise QuotaTooLargeError(limit=limit.name, cost=limit.cost_of(cost))
        if limit.reject:
            self._count(limit.name, "rejected", source)
            raise RateLimitedError(retry_after_ms=math.ceil(outcome.retry_after_us / 1000),
                                   limit=limit.name)
        self._count(limit.name, "delayed", source)
        return limit.key, asyncio.get_running_loop().time() + outcome.retry_after_us / 1e6

    def _release(self, limits: tuple[BoundLimit, ...], lease: str, from_redis: bool) -> None:
        if not lease:
            return
        if from_redis:
            self._held.pop(lease, None)
        self._batcher.release(limits, lease, from_redis=from_redis)
        for limit in limits:
            queue = self._queues.get(limit.key)
            if queue is not None:
                queue.released.set()

    async def _renew_forever(self) -> None:
        periods = [limit.params.interval_us / 3e6 for limits in self._held.values()
                   for limit in limits if limit.params.kind is Kind.CONCURRENCY]
        period = min(periods, default=10.0)
        while True:
            await asyncio.sleep(period)
            self._batcher.renew([(limit, lease) for lease, limits in self._held.items()
                                 for limit in limits if limit.params.kind is Kind.CONCURRENCY])

    def _count(self, limit: str, outcome: str, source: str, times: int = 1) -> None:
        labels = (limit, outcome, source)
        child = self._counters.get(labels)
        if child is None:
            child = self._counters[labels] = self.metrics.decisions.labels(*labels)
        child.inc(times)


class _Admission:
    __slots__ = ("_cost", "_from_redis", "_lease", "_limiter", "_limits")

    def __init__(self, limiter: RateLimiter, limits: tuple[BoundLimit, ...], cost: float) -> None:
        self._limiter = limiter
        self._limits = limits
        self._cost = cost
        self._lease = limiter._lease_for(limits)
        self._from_redis = True

    async def __aenter__(self) -> None:
        self._from_redis = await self._limiter._acquire(self._limits, self._cost, self._lease)

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        self._limiter._release(self._limits, self._lease, self._from_redis)


class Permit:
    """A call ``admit_many`` admitted: ``release`` gives its concurrency permits back
    (once; later calls do nothing), as leaving ``admit`` does."""

    __slots__ = ("_from_redis", "_lease", "_limiter", "_limits")

    def __init__(self, limiter: RateLimiter | None, limits: tuple[BoundLimit, ...], lease: str,
                 from_redis: bool) -> None:
        self._limiter = limiter
        self._limits = limits
        self._lease = lease
        self._from_redis = from_redis

    def release(self) -> None:
        limiter, self._limiter = self._limiter, None
        if limiter is not None:
            limiter._release(self._limits, self._lease, self._from_redis)


_FREE_PERMIT = Permit(None, (), "", True)  # no limit applies: nothing to give back
