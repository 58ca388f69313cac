"""The path grammar of a reference: where in an input's result a value is taken from.

::

    path  := ""  |  first ( "." key | "[" index "]" )*
    first := key | "[" index "]"
    key   := [A-Za-z_][A-Za-z0-9_-]*      (at most 64 characters)
    index := 0 | [1-9][0-9]*             (below 1,000,000)

``results[0].url`` reads key ``results``, its item 0, that item's key ``url``.
The empty path is the whole output. A path has at most 256 characters and 32
steps: it is walked for every dependent call, so it stays small.
"""

from __future__ import annotations

import re
from typing import Any

from .exceptions import InvalidReferenceError, PathNotFoundError

__all__ = ["MAX_PATH_CHARS", "MAX_PATH_STEPS", "Path", "parse_path", "render_path",
           "resolve_path"]

MAX_PATH_CHARS = 256
MAX_PATH_STEPS = 32
_MAX_INDEX = 999_999

Path = tuple[str | int, ...]

_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]{0,63})|\[(0|[1-9][0-9]{0,5})\]")
_FIRST_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")


def parse_path(text: str) -> Path:
    """The steps of ``text``; InvalidReferenceError says where it breaks the grammar."""
    if not isinstance(text, str):
        raise InvalidReferenceError(f"a path must be text, not {type(text).__name__}")
    if len(text) > MAX_PATH_CHARS:
        raise InvalidReferenceError(f"the path is {len(text)} characters, over {MAX_PATH_CHARS}")
    if text == "":
        return ()
    steps: list[str | int] = []
    position = 0
    first = _FIRST_KEY.match(text)
    if first is not None:
        steps.append(first.group())
        position = first.end()
    elif not text.startswith("["):
        raise InvalidReferenceError(f"path {text!r} must start with a key or [index]")
    while position < len(text):
        step = _STEP.match(text, position)
        if step is None:
            raise InvalidReferenceError(
                f"path {text!r}: cannot read {text[position:position + 20]!r} at character "
                f"{position}; write keys as .name and list items as [0]")
        key, index = step.groups()
        steps.append(key if key is not None else int(index))
        position = step.end()
        if len(steps) > MAX_PATH_STEPS:
            raise InvalidReferenceError(f"path {text!r} has more than {MAX_PATH_STEPS} steps")
    if not steps:
        raise InvalidReferenceError(f"path {text!r} is empty")
    return tuple(steps)


def render_path(path: Path) -> str:
    """``path`` written back in the grammar (``results[0].url``)."""
    text = ""
    for step in path:
        if isinstance(step, int):
            text += f"[{step}]"
        else:
            text += f".{step}" if text else step
    return text


def resolve_path(value: Any, path: Path) -> Any:
    """The value ``path`` leads to in ``value``; PathNotFoundError names the step that fails."""
    current = value
    for number, step in enumerate(path):
        where = render_path(path[:number]) or "the output"
        if isinstance(step, int):
            if not isinstance(current, list):
                raise PathNotFoundError(
                    f"{where} is {_kind(current)}, not a list: no item [{step}]")
            if step >= len(current):
                raise PathNotFoundError(
                    f"{where} has {len(current)} items: no item [{step}]")
            current = current[step]
        else:
            if not isinstance(current, dict):
                raise PathNotFoundError(
                    f"{where} is {_kind(current)}, not an object: no key {step!r}")
            if step not in current:
                raise PathNotFoundError(f"{where} has no key {step!r}")
            current = current[step]
    return current


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
