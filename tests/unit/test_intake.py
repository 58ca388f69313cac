"""admit(): each kind of bad record is refused with its reason; good ones are validated."""

from __future__ import annotations

import orjson
import pytest

from async_toolformer.agents.executor import Admission, Refusal, admit
from async_toolformer.agents.tools import ToolRegistry, tool
from async_toolformer.schemas import DeadLetterReason

registry = ToolRegistry()


@tool(registry=registry)
async def add(a: int, b: int = 1) -> int:
    """Add."""
    return a + b


def _raw(**fields: object) -> bytes:
    return orjson.dumps({"call_id": "c1", "session_id": "s1", "tool": "add", **fields})


def test_a_valid_call_is_admitted_with_coerced_arguments() -> None:
    verdict = admit(_raw(arguments={"a": "2"}), b"s1", registry, max_bytes=10_000)
    assert isinstance(verdict, Admission)
    assert verdict.arguments == {"a": 2, "b": 1}


@pytest.mark.parametrize(("raw", "reason", "call_id"), [
    (None, DeadLetterReason.UNDECODABLE, None),
    (b"\x00garbage", DeadLetterReason.UNDECODABLE, None),
    (_raw(arguments="nope"), DeadLetterReason.INVALID_EVENT, "c1"),
    (orjson.dumps({"session_id": "s1", "tool": "add"}), DeadLetterReason.INVALID_EVENT, None),
    (_raw(tool="missing"), DeadLetterReason.UNKNOWN_TOOL, "c1"),
    (_raw(arguments={"a": "x"}), DeadLetterReason.INVALID_ARGUMENTS, "c1"),
    (_raw(arguments={"a": 1, "zzz": 2}), DeadLetterReason.INVALID_ARGUMENTS, "c1"),
    (_raw(arguments={"a": 1}, note="x" * 500), DeadLetterReason.TOO_LARGE, "c1"),
])
def test_bad_records_are_refused(raw: bytes | None, reason: DeadLetterReason,
                                 call_id: str | None) -> None:
    verdict = admit(raw, b"s1", registry, max_bytes=300)
    assert isinstance(verdict, Refusal)
    assert verdict.reason is reason
    assert verdict.call_id == call_id
    assert verdict.session_id == "s1"
    assert verdict.error
