"""Checks on the graph dependent calls form: limits, unknown references, cycles.

A call lists its inputs in ``depends_on``; every reference in its arguments
must name one of them (an input may be listed without a reference, to order
calls only). A call may not depend on itself, and calls waiting for each
other are a cycle none of them could leave: :func:`find_cycle` names it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .exceptions import DependencyCycleError, DependencyLimitError, UnknownReferenceError
from .refs import MAX_REFS, Ref, find_refs

__all__ = ["DependencyLimits", "check_dependencies", "find_cycle"]


@dataclass(frozen=True, slots=True)
class DependencyLimits:
    max_inputs: int = 32
    max_refs: int = MAX_REFS
    max_depth: int = 64


def check_dependencies(call_id: str, depends_on: Sequence[str], arguments: Any, *,
                       limits: DependencyLimits = DependencyLimits()) -> list[Ref]:
    """The references of one call, once its dependencies are known to be well formed.

    Raises DependencyLimitError (too many inputs or references),
    DependencyCycleError (the call depends on itself), UnknownReferenceError (a
    reference to a call not in ``depends_on``) or InvalidReferenceError.
    """
    if len(depends_on) > limits.max_inputs:
        raise DependencyLimitError(
            f"depends_on lists {len(depends_on)} calls, over the limit of {limits.max_inputs}")
    if call_id in depends_on:
        raise DependencyCycleError(f"call {call_id!r} depends on itself")
    refs = find_refs(arguments, max_refs=limits.max_refs, max_depth=limits.max_depth)
    inputs = set(depends_on)
    for ref in refs:
        if ref.call_id not in inputs:
            raise UnknownReferenceError(
                f"reference {ref.describe()} names {ref.call_id!r}, which depends_on does "
                "not list")
    return refs


def find_cycle(start: str, inputs_of: Callable[[str], Iterable[str]], *,
               max_nodes: int = 10_000) -> list[str] | None:
    """A cycle through ``start`` in the graph ``inputs_of`` draws (each call to the calls it
    waits for), as the call_ids along it, or None. Iterative; gives up (None) after
    ``max_nodes`` calls, which the bounded wait of each call then settles."""
    path: list[str] = [start]
    iterators = [iter(inputs_of(start))]
    seen = {start}
    while iterators:
        following = next(iterators[-1], None)
        if following is None:
            iterators.pop()
            path.pop()
            continue
        if following == start:
            return [*path, start]
        if following in seen:
            continue
        seen.add(following)
        if len(seen) > max_nodes:
            return None
        path.append(following)
        iterators.append(iter(inputs_of(following)))
    return None


def refuse_cycle(start: str, inputs_of: Callable[[str], Iterable[str]]) -> None:
    """Raise DependencyCycleError naming the cycle through ``start``, if there is one."""
    cycle = find_cycle(start, inputs_of)
    if cycle is not None:
        raise DependencyCycleError("the calls wait for each other: " + " -> ".join(cycle))
