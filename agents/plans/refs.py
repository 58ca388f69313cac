"""References to earlier results inside a call's arguments.

A reference is a JSON object with the key ``"$ref"`` (the call_id of an input)
and optionally ``"path"`` (where in that input's output, :mod:`.paths`; absent
or empty: the whole output)::

    {"url": {"$ref": "call-1", "path": "results[0].url"}}

Any object holding ``"$ref"`` is a reference: one with other keys, a ``$ref``
that is not a usable identifier, or a path off the grammar is refused, never
passed to a tool as is. References are found without recursion, bounded in
depth and in number, before anything else looks at them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .exceptions import DependencyLimitError, InvalidReferenceError, PathNotFoundError
from .paths import Path, parse_path, render_path, resolve_path

__all__ = ["MAX_REFS", "REF_KEY", "Ref", "find_refs", "map_refs", "substitute"]

REF_KEY = "$ref"
PATH_KEY = "path"
MAX_REFS = 64
_MAX_DEPTH = 64
_MAX_ID_CHARS = 256


@dataclass(frozen=True, slots=True)
class Ref:
    """One reference: the input it reads and the path into that input's output."""

    call_id: str
    path: Path = ()

    def describe(self) -> str:
        where = render_path(self.path)
        return f"{self.call_id}.{where}" if where else self.call_id


def as_ref(value: dict[str, Any]) -> Ref:
    """The reference ``value`` (an object holding ``$ref``) stands for, or why it is none."""
    extra = sorted(set(value) - {REF_KEY, PATH_KEY})
    if extra:
        raise InvalidReferenceError(
            f"a reference holds only {REF_KEY!r} and {PATH_KEY!r}, not {', '.join(extra)}")
    call_id = value[REF_KEY]
    if (not isinstance(call_id, str) or not call_id or len(call_id) > _MAX_ID_CHARS
            or not call_id.isprintable()):
        raise InvalidReferenceError(
            f"{REF_KEY} must be a call_id (1-{_MAX_ID_CHARS} printable characters), "
            f"not {str(call_id)[:40]!r}")
    return Ref(call_id, parse_path(value.get(PATH_KEY, "")))


def find_refs(arguments: Any, *, max_refs: int = MAX_REFS,
              max_depth: int = _MAX_DEPTH) -> list[Ref]:
    """Every reference in ``arguments``, in no promised order, each checked against the
    grammar; deeper than ``max_depth`` or more than ``max_refs`` is an error."""
    found: list[Ref] = []
    stack: list[tuple[Any, int]] = [(arguments, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            if REF_KEY in value:
                found.append(as_ref(value))
                if len(found) > max_refs:
                    raise DependencyLimitError(
                        f"the arguments hold more than {max_refs} references")
                continue
            children: Any = value.values()
        elif isinstance(value, list | tuple):
            children = value
        else:
            continue
        if depth > max_depth:
            raise InvalidReferenceError(f"the arguments are nested more than {max_depth} "
                                        "levels deep")
        stack.extend((child, depth + 1) for child in children)
    return found


def map_refs(arguments: Any, replace: Callable[[Ref], Any]) -> Any:
    """A copy of ``arguments`` with each reference replaced by ``replace(ref)``.

    Call :func:`find_refs` first: it bounds the depth this walk recurses to.
    """
    if isinstance(arguments, dict):
        if REF_KEY in arguments:
            return replace(as_ref(arguments))
        return {key: map_refs(value, replace) for key, value in arguments.items()}
    if isinstance(arguments, list | tuple):
        return [map_refs(value, replace) for value in arguments]
    return arguments


def substitute(arguments: dict[str, Any], outputs: Mapping[str, Any]) -> dict[str, Any]:
    """``arguments`` with every reference replaced by the value its path leads to in its
    input's output (``outputs[call_id]``); PathNotFoundError names the reference."""

    def value_of(ref: Ref) -> Any:
        if ref.call_id not in outputs:
            raise PathNotFoundError(f"no output of {ref.call_id!r} to read {ref.describe()}")
        try:
            return resolve_path(outputs[ref.call_id], ref.path)
        except PathNotFoundError as exc:
            raise PathNotFoundError(f"reference {ref.describe()}: {exc}") from None

    result = map_refs(arguments, value_of)
    assert isinstance(result, dict)
    return result
