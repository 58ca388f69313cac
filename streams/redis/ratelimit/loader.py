"""Read a limits file (TOML) into a :class:`LimitsConfig`, or say exactly what is wrong.

A bad file must stop a worker at start with one line a person can act on: the
file, where in it (line for syntax errors, key path and best-effort line for
invalid values) and why.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from async_toolformer.streams.config_file import parse_toml, read_text
from async_toolformer.streams.redis.ratelimit.config import LimitsConfig
from async_toolformer.streams.redis.ratelimit.exceptions import LimitsConfigError

__all__ = ["load_limits", "parse_limits"]

_KINDS = {"token_bucket", "sliding_window", "concurrency"}


def load_limits(path: str | Path) -> LimitsConfig:
    """Load and validate ``path``; raises :class:`LimitsConfigError` on any problem."""
    return parse_limits(read_text(path, LimitsConfigError), source=str(path))


def parse_limits(text: str, *, source: str = "<limits>") -> LimitsConfig:
    """Validate TOML text; ``source`` names it in errors."""
    data = parse_toml(text, source, LimitsConfigError)
    try:
        return LimitsConfig.model_validate(data)
    except ValidationError as exc:
        raise _explain(exc, data, text, source) from exc


def _explain(exc: ValidationError, data: dict[str, Any], text: str, source: str
             ) -> LimitsConfigError:
    error = exc.errors()[0]
    loc = [part for part in error["loc"] if part not in _KINDS]
    if error["type"] in {"union_tag_invalid", "union_tag_not_found"}:
        loc.append("kind")
    path = _key_path(loc, data)
    line = _line_of(loc, text)
    where = f"{path} (line {line})" if line else path or None
    reason = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "union_tag_invalid":
        reason = (f"unknown kind {_get(data, loc[:-1], 'kind')!r}; "
                  "use token_bucket, sliding_window or concurrency")
    elif error["type"] == "union_tag_not_found":
        reason = "missing kind; use token_bucket, sliding_window or concurrency"
    elif error["type"] == "extra_forbidden":
        reason = "unknown key (check its spelling)"
    if "input" in error and error["type"] not in {"missing", "extra_forbidden"} \
            and not isinstance(error["input"], dict):
        reason += f" (got {error['input']!r})"
    more = len(exc.errors()) - 1
    if more:
        reason += f" [and {more} more problem{'s' if more > 1 else ''}]"
    return LimitsConfigError(path=source, where=where, reason=reason)


def _key_path(loc: Sequence[int | str], data: dict[str, Any]) -> str:
    parts: list[str] = []
    node: Any = data
    for part in loc:
        if isinstance(part, int):
            item = node[part] if isinstance(node, list) and _has(node, part) else None
            name = item.get("name") if isinstance(item, dict) else None
            parts.append(f"[{part}]" + (f" ({name})" if name else ""))
        else:
            parts.append(f".{part}" if parts else part)
        node = _child(node, part)
    return "".join(parts)


def _has(node: dict[str, Any] | list[Any], part: int | str) -> bool:
    if isinstance(node, list):
        return isinstance(part, int) and 0 <= part < len(node)
    return part in node


def _child(node: Any, part: int | str) -> Any:
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    if isinstance(node, dict) and isinstance(part, str):
        return node.get(part)
    return None


def _get(data: dict[str, Any], loc: Sequence[int | str], key: str) -> Any:
    node: Any = data
    for part in loc:
        node = node[part]
    return node.get(key) if isinstance(node, dict) else None


def _line_of(loc: Sequence[int | str], text: str) -> int | None:
    """Best effort: the line of ``limits[i].key`` or of a top-level key."""
    lines = text.splitlines()
    start, end = 0, len(lines)
    rest = list(loc)
    if len(rest) >= 2 and rest[0] == "limits" and isinstance(rest[1], int):
        headers = [n for n, line in enumerate(lines) if line.strip().startswith("[[limits]]")]
        if rest[1] >= len(headers):
            return None
        start = headers[rest[1]]
        later = [n for n, line in enumerate(lines) if n > start and line.lstrip().startswith("[")]
        end = later[0] if later else len(lines)
        rest = rest[2:]
        if not rest:
            return start + 1
    elif rest:
        tables = [n for n, line in enumerate(lines) if line.lstrip().startswith("[")]
        end = tables[0] if tables else len(lines)
    if not rest or not isinstance(rest[0], str):
        return None
    key = re.compile(rf"^\s*{re.escape(rest[0])}\s*=")
    for n in range(start, end):
        if key.match(lines[n]):
            return n + 1
    return start + 1 if start else None
