"""Bounded views of argument and result values: the scalars a predictor may copy, and where.

Everything here walks at most ``max_nodes`` nodes, ``max_path_depth`` levels and
keeps at most ``max_paths_per_result`` leaves, so a result of any size or shape
costs the predictor a bounded amount of time and memory.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from .protocol import PredictorSettings

STAR = -1
"""The ``[*]`` segment of a path: any item of a list (fan-out)."""

Segment = str | int
Path = tuple[Segment, ...]
Scalar = str | int | float | bool
ScalarKey = tuple[str, Scalar]
"""A scalar tagged with its JSON type, so ``1``, ``1.0``, ``True`` and ``"1"`` stay apart."""

_NAME = re.compile(r"[A-Za-z0-9_\-]{1,64}")
_SEGMENT = re.compile(r"\.([A-Za-z0-9_\-]{1,64})|\[(\d{1,6}|\*)\]")
_MAX_INT = 2**63


def is_name(text: object) -> bool:
    """Whether ``text`` may be a tool, argument or key name in the model (short, plain)."""
    return isinstance(text, str) and _NAME.fullmatch(text) is not None


def scalar_key(value: object, settings: PredictorSettings) -> ScalarKey | None:
    """The tagged scalar of ``value``, or None if it is not a usable scalar."""
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, int):
        return ("i", value) if -_MAX_INT < value < _MAX_INT else None
    if isinstance(value, float):
        return ("f", value) if math.isfinite(value) else None
    if isinstance(value, str):
        return ("s", value) if len(value) <= settings.max_value_chars else None
    return None


def scalar_arguments(arguments: Mapping[str, Any], settings: PredictorSettings
                     ) -> tuple[dict[str, ScalarKey], bool]:
    """The usable scalar arguments (first ``max_arguments`` names, sorted) and whether that is all.

    The flag is False when any argument was left out (a list, a long string, too many
    arguments): such a call can be learned from but never be predicted exactly.
    """
    names = sorted(name for name in arguments if isinstance(name, str))
    complete = len(names) == len(arguments) and len(names) <= settings.max_arguments
    taken: dict[str, ScalarKey] = {}
    for name in names[: settings.max_arguments]:
        key = scalar_key(arguments[name], settings) if is_name(name) else None
        if key is None:
            complete = False
        else:
            taken[name] = key
    return taken, complete


def leaves(value: object, settings: PredictorSettings) -> dict[Path, ScalarKey]:
    """The scalar leaves of ``value`` by path, in document order, within the settings' bounds."""
    found: dict[Path, ScalarKey] = {}
    budget = [settings.max_nodes]

    def walk(node: object, path: Path) -> None:
        if budget[0] <= 0 or len(found) >= settings.max_paths_per_result:
            return
        budget[0] -= 1
        if isinstance(node, Mapping):
            if len(path) >= settings.max_path_depth:
                return
            for key, child in node.items():
                if budget[0] <= 0 or len(found) >= settings.max_paths_per_result:
                    return
                if is_name(key):
                    walk(child, (*path, key))
        elif isinstance(node, list | tuple):
            if len(path) >= settings.max_path_depth:
                return
            for index, child in enumerate(node):
                if budget[0] <= 0 or len(found) >= settings.max_paths_per_result:
                    return
                walk(child, (*path, index))
        else:
            key = scalar_key(node, settings)
            if key is not None and path:
                found[path] = key

    walk(value, ())
    return found


def starred(path: Path) -> tuple[Path, int] | None:
    """``path`` with its outermost list index replaced by ``STAR``, and that index."""
    for position, segment in enumerate(path):
        if isinstance(segment, int):
            return (*path[:position], STAR, *path[position + 1:]), segment
    return None


def with_index(path: Path, index: int) -> Path:
    """``path`` with its ``STAR`` replaced by ``index``."""
    return tuple(index if segment == STAR else segment for segment in path)


def render(path: Path) -> str:
    """``("results", STAR, "url")`` -> ``"results[*].url"``."""
    parts: list[str] = []
    for segment in path:
        if isinstance(segment, str):
            parts.append(f".{segment}")
        else:
            parts.append("[*]" if segment == STAR else f"[{segment}]")
    return "".join(parts).removeprefix(".")


def parse(text: str, settings: PredictorSettings) -> Path:
    """The inverse of :func:`render`; raises ValueError on anything else or a path too deep."""
    source = text if text.startswith("[") else f".{text}"
    segments: list[Segment] = []
    position = 0
    while position < len(source):
        match = _SEGMENT.match(source, position)
        if match is None:
            raise ValueError(f"not a result path: {text[:80]!r}")
        name, index = match.groups()
        if name is not None:
            segments.append(name)
        else:
            segments.append(STAR if index == "*" else int(index))
        position = match.end()
    if not segments or len(segments) > settings.max_path_depth:
        raise ValueError(f"a result path needs 1 to {settings.max_path_depth} segments: "
                         f"{text[:80]!r}")
    return tuple(segments)
