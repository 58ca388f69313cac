"""Hostile records, unit by unit: each ends in a refusal, a dead letter or an error result that
fits, never in an exception that escapes its call (the live worker: tests/pipeline/
test_hostile_input.py)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from async_toolformer.agents.executor import (
    Admission,
    CallExecutor,
    CallLimits,
    Claimed,
    OffsetTracker,
    Opening,
    Refusal,
    Run,
    Seal,
    Sealed,
    admit,
)
from async_toolformer.agents.executor.agent import ResultPublisher
from async_toolformer.agents.executor.ports import NullObserver
from async_toolformer.agents.sessions import RegistryCatalogue, SessionRefusal, admit_session
from async_toolformer.agents.tools import ToolRegistry, ToolSpec, tool
from async_toolformer.schemas import (
    CallStatus,
    DeadLetter,
    DeadLetterReason,
    ToolCallCompleted,
    ToolCallRequested,
    decode_as,
)

registry = ToolRegistry()


@tool(registry=registry)
async def echo(**arguments: Any) -> dict[str, Any]:
    """Returns its arguments."""
    return arguments


@tool(registry=registry)
async def nested(depth: int) -> Any:
    """Returns a value nested ``depth`` levels deep."""
    value: Any = "bottom"
    for _ in range(depth):
        value = {"down": value}
    return value


@tool(registry=registry)
async def huge(chars: int) -> str:
    """Returns ``chars`` characters."""
    return "x" * chars


def _raw(depth: int = 0, **fields: Any) -> bytes:
    arguments: Any = {}
    for _ in range(depth):
        arguments = {"down": arguments}
    body = {"call_id": "c1", "session_id": "s1", "tool": "echo", "arguments": arguments, **fields}
    return json.dumps(body).encode()  # orjson refuses to write more than 254 levels


# -- admission ------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "key", "reason", "call_id", "session_id"), [
    (_raw(depth=255), b"s1", DeadLetterReason.INVALID_ARGUMENTS, "c1", "s1"),
    (_raw(depth=65), b"s1", DeadLetterReason.INVALID_ARGUMENTS, "c1", "s1"),
    (_raw(call_id="c" * 300, extra=1), b"s1", DeadLetterReason.INVALID_EVENT, None, "s1"),
    (_raw(call_id="c" * 300), b"s1", DeadLetterReason.INVALID_EVENT, None, "s1"),
    (_raw(call_id="c\x00\x1b"), b"s1", DeadLetterReason.INVALID_EVENT, None, "s1"),
    (_raw(session_id="s\n1"), b"s1", DeadLetterReason.INVALID_EVENT, None, "s1"),
    (orjson.dumps({"call_id": "c1", "tool": "echo"}), b"   ", DeadLetterReason.INVALID_EVENT,
     "c1", None),
    (b"not json", b"\xff\xfe", DeadLetterReason.UNDECODABLE, None, None),
    (b"not json", b"k" * 5000, DeadLetterReason.UNDECODABLE, None, None),
    (_raw(arguments={"items": list(range(200))}), b"s1", DeadLetterReason.INVALID_ARGUMENTS,
     "c1", "s1"),
])
def test_hostile_calls_are_refused_with_only_usable_ids(
        raw: bytes, key: bytes, reason: DeadLetterReason, call_id: str | None,
        session_id: str | None) -> None:
    verdict = admit(raw, key, registry, max_bytes=1_000_000,
                    limits=CallLimits(max_argument_items=100))
    assert isinstance(verdict, Refusal)
    assert verdict.reason is reason
    assert (verdict.call_id, verdict.session_id) == (call_id, session_id)


def test_arguments_at_the_depth_limit_are_admitted() -> None:
    assert isinstance(admit(_raw(depth=63), b"s1", registry, max_bytes=1_000_000), Admission)


def test_an_error_of_a_megabyte_is_clipped() -> None:
    verdict = admit(_raw(tool="x" * 200, arguments={"k" * 900_000: 1}), b"s1", registry,
                    max_bytes=2_000_000)
    assert isinstance(verdict, Refusal)
    assert len(verdict.error) < 3_000


# -- results --------------------------------------------------------------------------------


class Published:
    def __init__(self) -> None:
        self.results: list[ToolCallCompleted] = []

    async def one(self, sealed: Sealed) -> None:
        self.results.append(sealed.event)

    async def many(self, sealed: Sequence[Sealed]) -> None:
        self.results.extend(s.event for s in sealed)


def _admission(call_id: str, tool_name: str, **arguments: Any) -> Admission:
    request = ToolCallRequested(call_id=call_id, session_id="s", tool=tool_name,
                                arguments=arguments)
    spec = registry.get(tool_name)
    return Admission(request, spec, spec.validate(request.arguments))


async def _run(executor: CallExecutor, admissions: list[Admission]) -> list[ToolCallCompleted]:
    for _ in admissions:
        await executor.reserve()
    futures = executor.submit_batch(admissions, received_at=datetime.now(UTC))
    async with asyncio.timeout(5):
        return [sealed.event for sealed in await asyncio.gather(*futures)]


@pytest.mark.parametrize(("tool_name", "arguments", "kind"), [
    ("nested", {"depth": 300}, "OutputTooDeep"),
    ("nested", {"depth": 65}, "OutputTooDeep"),
    ("huge", {"chars": 20_000}, "OutputTooLarge"),
])
async def test_an_output_that_cannot_be_a_result_ends_in_an_error(
        tool_name: str, arguments: dict[str, Any], kind: str) -> None:
    published = Published()
    executor = CallExecutor(worker_id="w", sink=published.one, sink_many=published.many,
                            limits=CallLimits(max_result_bytes=10_000))
    bad, good = await _run(executor, [_admission("bad", tool_name, **arguments),
                                      _admission("good", "nested", depth=3)])
    assert bad.status is CallStatus.ERROR
    assert bad.error is not None
    assert bad.error.type == kind
    assert good.status is CallStatus.OK


class FailingGuard:
    """A guard around nothing whose operations fail as asked, like a Redis that says no."""

    def __init__(self, *, open_fails: bool = False, record_fails: bool = False,
                 guard_fails: set[str] | None = None, eager: bool = True) -> None:
        self.open_fails = open_fails
        self.record_fails = record_fails
        self.guard_fails = guard_fails or set()
        self._eager = eager

    @property
    def eager(self) -> bool:
        return self._eager

    async def guard(self, request: ToolCallRequested, spec: ToolSpec, run: Run,
                    seal: Seal) -> Sealed:
        if request.call_id in self.guard_fails:
            raise RuntimeError("OOM command not allowed when used memory > 'maxmemory'")
        return seal(await run())

    async def open_many(self, requests: Sequence[ToolCallRequested]) -> list[Opening]:
        if self.open_fails:
            raise RuntimeError("LEDGER_WRONGTYPE a key is a list")
        return [Claimed(1) for _ in requests]

    async def record_many(self, done: Sequence[tuple[ToolCallRequested, Claimed, Sealed]]
                          ) -> list[bool]:
        if self.record_fails:
            raise RuntimeError("READONLY You can't write against a read only replica")
        return [True] * len(done)

    async def release_many(self, held: Sequence[tuple[ToolCallRequested, Claimed]]) -> None:
        raise RuntimeError("CROSSSLOT")

    async def hold(self, request: ToolCallRequested, spec: ToolSpec, claimed: Claimed,
                   run: Run, seal: Seal) -> Sealed:
        return await self.guard(request, spec, run, seal)


@pytest.mark.parametrize(("guard", "failed"), [
    (FailingGuard(open_fails=True, guard_fails={"b"}), {"b"}),  # each claimed alone
    (FailingGuard(record_fails=True), set()),  # published unrecorded
    (FailingGuard(eager=False, guard_fails={"a", "c"}), {"a", "c"}),  # held calls
], ids=["claims", "records", "holds"])
async def test_a_failing_guard_ends_only_its_calls_in_internal_errors(
        guard: FailingGuard, failed: set[str]) -> None:
    published = Published()
    executor = CallExecutor(worker_id="w", sink=published.one, sink_many=published.many,
                            guard=guard)
    results = await _run(executor, [_admission(c, "echo", n=c) for c in "abcd"])
    by_id = {r.call_id: r for r in results}
    for call_id, result in by_id.items():
        if call_id in failed:
            assert result.status is CallStatus.ERROR
            assert result.error is not None
            assert result.error.type == "InternalError"
            assert "OOM" not in result.error.message
        else:
            assert result.status is CallStatus.OK
    assert sorted(r.call_id for r in published.results) == list("abcd")
    assert executor.stats.in_flight == 0


# -- the executor agent's sinks and letters ---------------------------------------------------


class Refusing:
    """An EventPublisher whose broker refuses records over ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.published: list[bytes] = []

    async def publish(self, topic: str, key: bytes | None, value: bytes) -> bool:
        if len(value) > self.limit:
            return False
        self.published.append(value)
        return True

    async def publish_many(self, topic: str, records: Sequence[tuple[bytes | None, bytes]]
                           ) -> list[tuple[bytes | None, bytes]]:
        return [(k, v) for k, v in records if not await self.publish(topic, k, v)]


async def test_a_result_the_broker_refuses_is_answered_output_too_large() -> None:
    broker = Refusing(limit=5_000)
    sink = ResultPublisher(broker, "results", NullObserver())
    published = Published()
    executor = CallExecutor(worker_id="w", sink=published.one, sink_many=sink.many)
    await _run(executor, [_admission("big", "huge", chars=50_000),
                          _admission("small", "huge", chars=10)])
    results = [decode_as(ToolCallCompleted, raw) for raw in broker.published]
    by_id = {r.call_id: r for r in results}
    assert by_id["small"].status is CallStatus.OK
    assert by_id["big"].status is CallStatus.ERROR
    assert by_id["big"].error is not None
    assert by_id["big"].error.type == "OutputTooLarge"


def test_a_dead_letter_is_bounded_and_describes_the_original() -> None:
    value, key = b"v" * 3_000_000, b"k" * 100_000
    letter = DeadLetter.of_record(
        reason=DeadLetterReason.TOO_LARGE, error="e" * 1_000_000, source_topic="calls",
        source_partition=0, source_offset=1, key=key, value=value, worker_id="w",
        call_id="c" * 300)
    assert letter.truncated
    assert (letter.value_length, letter.key_length) == (len(value), len(key))
    assert letter.value_sha256 == hashlib.sha256(value).hexdigest()
    assert letter.call_id is None
    assert len(letter.model_dump_json()) < 200_000
    small = DeadLetter.of_record(
        reason=DeadLetterReason.UNDECODABLE, error="e", source_topic="calls",
        source_partition=0, source_offset=1, key=None, value=b"x", worker_id="w")
    assert (small.value, small.truncated, small.key_sha256) == (b"x", False, None)


def test_held_counts_records_done_behind_an_unfinished_head() -> None:
    tracker: OffsetTracker[int] = OffsetTracker()
    for offset in range(5):
        tracker.start("p", offset, offset)
    assert tracker.finish("p", 2) == []
    assert tracker.finish("p", 3) == []
    assert tracker.finish("p", 3) == []  # twice is once
    assert tracker.held() == 2
    assert tracker.finish("p", 0) == [0]
    assert tracker.held() == 2
    assert tracker.finish("p", 1) == [1, 2, 3]
    assert tracker.held() == 0
    tracker.finish("p", 4)
    tracker.start("q", 0, 0)
    tracker.start("q", 1, 1)
    tracker.finish("q", 1)
    assert tracker.held() == 1
    tracker.forget("q")
    assert tracker.held() == 0


# -- sessions -------------------------------------------------------------------------------


def _session(**fields: Any) -> bytes:
    return json.dumps({"type": "session_started", "session_id": "s1", "prompt": "hi",
                       **fields}).encode()


@pytest.mark.parametrize(("raw", "key", "session_id"), [
    (_session(session_id="s" * 257), b"k1", "k1"),
    (_session(session_id="s" * 257), b"s" * 257, None),
    (_session(session_id="   "), b"   ", None),
    (_session(session_id="a\x00b"), b"", None),
    (b"{not json", b"\xff", None),
    (_session(messages=[{"role": "user", "content": "x"}] * 10_000), b"s1", "s1"),
    (_session(options={"max_tokens": 10**12}), b"s1", "s1"),
    (_session(prompt="x" * 600_000), b"s1", "s1"),
])
def test_hostile_session_requests_are_refused_with_only_usable_ids(
        raw: bytes, key: bytes, session_id: str | None) -> None:
    verdict = admit_session(raw, key, RegistryCatalogue(registry, default_timeout_s=1.0))
    assert isinstance(verdict, SessionRefusal)
    assert verdict.session_id == session_id
