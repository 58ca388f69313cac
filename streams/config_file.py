"""Reading an operator's TOML file (limits, policy) with errors a person can act on.

A bad file must stop a worker at start with one line: the file, where in it (line
and column for syntax errors) and why. Each kind of file raises its own subclass of
:class:`ConfigFileError`, so a caller can tell which file was wrong.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from async_toolformer.streams.exceptions import ConfigurationError

__all__ = ["ConfigFileError", "parse_toml", "read_text"]

_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


class ConfigFileError(ConfigurationError):
    """A configuration file is unreadable or invalid: names the file, where, and why."""

    def __init__(self, *, path: str, where: str | None, reason: str) -> None:
        self.path = path
        self.where = where
        self.reason = reason
        place = f"{path}, {where}" if where else path
        super().__init__(f"{place}: {reason}")


def read_text(path: str | Path, error: type[ConfigFileError]) -> str:
    """The file's text; an unreadable or non-UTF-8 file raises ``error``."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(path=str(path), where=None, reason=f"cannot read the file ({exc})") from exc


def parse_toml(text: str, source: str, error: type[ConfigFileError]) -> dict[str, Any]:
    """TOML text as a dict; a syntax error raises ``error`` with its line and column."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = _TOML_POSITION.search(message)
        where = f"line {found[1]}, column {found[2]}" if found else None
        reason = _TOML_POSITION.sub("", message) if found else message
        raise error(path=source, where=where, reason=f"TOML syntax error: {reason}") from exc
