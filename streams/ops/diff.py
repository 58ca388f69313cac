"""Comparing the results a replay produced with those first recorded, per call_id.

Pure. A replay against the live ledger must re-emit each recorded event as it
was (``identical``); a ``--fresh`` replay runs the tools again, so timings and
workers differ and what matters is whether the outcome (status, output, error)
did (``same_outcome`` or ``changed``).

Results are compared as their bytes first (:func:`diff_wires`): the same bytes
are the same event, and are decoded only if someone looks at them, once for
both sides. Only results whose bytes differ are decoded to tell how.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from enum import StrEnum

from async_toolformer.schemas import SchemaError, ToolCallCompleted, decode_as
from async_toolformer.streams.ops.exceptions import ReplayError


class Verdict(StrEnum):
    """How one call's new result compares with its old one."""

    IDENTICAL = "identical"
    SAME_OUTCOME = "same_outcome"
    CHANGED = "changed"
    NO_OLD_RESULT = "no_old_result"
    NO_NEW_RESULT = "no_new_result"


_OUTCOME_FIELDS = ("status", "output", "error")


class _Result:
    """A result as bytes, decoded when first asked for."""

    __slots__ = ("_event", "call_id", "wire")

    def __init__(self, call_id: str, wire: bytes) -> None:
        self.call_id = call_id
        self.wire = wire
        self._event: ToolCallCompleted | None = None

    @property
    def event(self) -> ToolCallCompleted:
        if self._event is None:
            try:
                self._event = decode_as(ToolCallCompleted, self.wire)
            except SchemaError as exc:
                raise ReplayError(f"the result of {self.call_id} is not a valid result "
                                  f"event: {exc}") from exc
        return self._event


class CallDiff:
    """One call_id's old and new result and what differs between them."""

    __slots__ = ("_new", "_old", "call_id", "changed_fields", "verdict")

    def __init__(self, call_id: str, verdict: Verdict,
                 old: ToolCallCompleted | _Result | None, new: ToolCallCompleted | _Result | None,
                 changed_fields: tuple[str, ...] = ()) -> None:
        self.call_id = call_id
        self.verdict = verdict
        self.changed_fields = changed_fields
        self._old = old
        self._new = new

    @property
    def old(self) -> ToolCallCompleted | None:
        return self._old.event if isinstance(self._old, _Result) else self._old

    @property
    def new(self) -> ToolCallCompleted | None:
        return self._new.event if isinstance(self._new, _Result) else self._new

    @property
    def tool(self) -> str:
        present = self.new or self.old
        return present.tool if present is not None else "?"

    def __repr__(self) -> str:
        return f"CallDiff({self.call_id!r}, {self.verdict.value})"


def compare(call_id: str, old: ToolCallCompleted | None,
            new: ToolCallCompleted | None) -> CallDiff:
    """The verdict for one call."""
    if new is None:
        return CallDiff(call_id, Verdict.NO_NEW_RESULT, old, None)
    if old is None:
        return CallDiff(call_id, Verdict.NO_OLD_RESULT, None, new)
    if old == new:
        return CallDiff(call_id, Verdict.IDENTICAL, old, new)
    changed = tuple(f for f in _OUTCOME_FIELDS if getattr(old, f) != getattr(new, f))
    verdict = Verdict.CHANGED if changed else Verdict.SAME_OUTCOME
    return CallDiff(call_id, verdict, old, new, changed)


def compare_wires(call_id: str, old: bytes | None, new: bytes | None) -> CallDiff:
    """:func:`compare` on results as bytes; the same bytes are never decoded here."""
    if new is None:
        return CallDiff(call_id, Verdict.NO_NEW_RESULT, _lazy(call_id, old), None)
    if old is None:
        return CallDiff(call_id, Verdict.NO_OLD_RESULT, None, _Result(call_id, new))
    if old == new:
        both = _Result(call_id, new)
        return CallDiff(call_id, Verdict.IDENTICAL, both, both)
    # Different bytes: decode both to tell how; one that is no result counts as missing.
    return compare(call_id, _decoded(old), _decoded(new))


def diff_results(call_ids: Iterable[str], old: Mapping[str, ToolCallCompleted],
                 new: Mapping[str, ToolCallCompleted]) -> list[CallDiff]:
    """One :class:`CallDiff` per call_id, in the order given."""
    return [compare(c, old.get(c), new.get(c)) for c in call_ids]


def diff_wires(call_ids: Iterable[str], old: Mapping[str, bytes],
               new: Mapping[str, bytes]) -> list[CallDiff]:
    """:func:`diff_results` on results as bytes."""
    return [compare_wires(c, old.get(c), new.get(c)) for c in call_ids]


def tally(diffs: Iterable[CallDiff]) -> dict[str, int]:
    """Count of calls per verdict, every verdict present (zero included)."""
    counts = Counter(d.verdict for d in diffs)
    return {verdict.value: counts.get(verdict, 0) for verdict in Verdict}


def _lazy(call_id: str, wire: bytes | None) -> _Result | None:
    return None if wire is None else _Result(call_id, wire)


def _decoded(wire: bytes) -> ToolCallCompleted | None:
    try:
        return decode_as(ToolCallCompleted, wire)
    except SchemaError:
        return None
