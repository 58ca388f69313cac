"""How results look in a terminal: a table for people, JSON lines for scripts.

Whatever a producer wrote (call ids, tool names, outputs, error messages) is
shown as plain text, never read as rich markup: a ``call_id`` of ``[/]`` would
crash rendering and ``[link=...]`` in an error would become a link.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from async_toolformer.schemas import CallStatus, ToolCallCompleted
from async_toolformer.streams.cli._runtime import console

_STYLE = {
    CallStatus.OK: "green",
    CallStatus.CANCELLED: "yellow",
    CallStatus.RATE_LIMITED: "yellow",
    CallStatus.INDETERMINATE: "magenta",
}


def results_table(results: Iterable[ToolCallCompleted], *, title: str | None = None) -> Table:
    table = Table(title=escape(title) if title is not None else None, show_lines=False)
    table.add_column("call", no_wrap=True, min_width=6)
    table.add_column("tool", no_wrap=True, min_width=11)
    table.add_column("status", no_wrap=True, min_width=6)
    table.add_column("ms", justify="right", no_wrap=True)
    table.add_column("try", justify="right", no_wrap=True)
    table.add_column("output / error", no_wrap=True, overflow="ellipsis", max_width=32)
    for result in results:
        style = _STYLE.get(result.status, "red")
        detail = (_short(result.output) if result.error is None
                  else f"{result.error.type}: {result.error.message}")
        table.add_row(Text(result.call_id), Text(result.tool),
                      Text(result.status.value, style=style),
                      f"{result.timings.run_ms:.0f}", str(result.attempts), Text(detail))
    return table


def result_json(result: ToolCallCompleted) -> str:
    return result.model_dump_json()


def _short(value: object, limit: int = 60) -> str:
    text = orjson.dumps(value).decode()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def print_report(report: Mapping[str, Any], *, as_json: bool) -> None:
    """A benchmark's figures: indented JSON for scripts, a two-column table for people."""
    if as_json:
        print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
        return
    table = Table("figure", "value")
    for name, value in report.items():
        table.add_row(Text(name), Text(f"{value:,.3f}" if isinstance(value, float)
                                       else str(value)))
    console.print(table)
