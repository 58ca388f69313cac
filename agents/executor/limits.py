"""How deep, how big and how strange a call's input and its result may be.

Pure. JSON nested a few hundred levels deep breaks the serialisers (pydantic and
orjson stop at about 255 levels with an error, not a result), an output over
the broker's message limit can never be published, and an identifier with
control characters or a key nobody can read cannot address an answer. These
checks run before anything acts on a record, so each ends in a refusal or an
error result instead of an exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["CallLimits", "clip", "shape_problem", "usable_id"]

_ID_CHARS = 256  # as the schemas' Identifier
_CLIPPED = 2_000  # characters of an error message a refusal keeps
_SCALARS = frozenset({str, int, float, bool, type(None)})
_FLAT = 1 << 30  # no item bound: any flat object passes


@dataclass(frozen=True, slots=True)
class CallLimits:
    """Bounds on one call: nesting and size of its arguments, nesting and size of its result.

    ``max_result_bytes`` must stay under what the results topic takes (the
    producer's ``max_request_size`` and the broker's ``message.max.bytes``).
    """

    max_depth: int = 64
    max_argument_items: int = 100_000
    max_result_bytes: int = 1_000_000


def shape_problem(value: Any, *, max_depth: int, max_items: int | None = None) -> str | None:
    """What is wrong with the shape of JSON-like ``value`` (too deep, too many values), or None.

    Walks without recursion, so a value of any depth is measured, and stops at
    the first bound crossed. A flat object of scalars, what most calls carry, is
    answered without the walk.
    """
    bound = _FLAT if max_items is None else max_items
    if type(value) is dict and len(value) < bound and max_depth >= 1 \
            and all(type(child) in _SCALARS for child in value.values()):
        return None
    items = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        items += 1
        if max_items is not None and items > max_items:
            return f"it holds more than {max_items} values"
        if isinstance(current, dict):
            children: Any = current.values()
        elif isinstance(current, list | tuple):
            children = current
        else:
            continue
        if depth > max_depth:
            return f"it is nested more than {max_depth} levels deep"
        stack.extend((child, depth + 1) for child in children)
    return None


def usable_id(value: object) -> str | None:
    """``value`` if it can address an answer: a str of 1-256 characters, not blank, printable.

    Surrounding whitespace is stripped, as the schemas strip it.
    """
    if not isinstance(value, str) or len(value) > _ID_CHARS + 64:
        return None
    text = value.strip()
    if not text or len(text) > _ID_CHARS or not text.isprintable():
        return None
    return text


def clip(text: str, limit: int = _CLIPPED) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"
