"""The system prompt of plan mode: the tools, the plan format, how results come back.

LLMCompiler-style: the model writes its calls as plan lines (:mod:`.text`), each
later step may use an earlier step's output, and it is called again only once
every step has its result, to answer or to write a new plan.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

__all__ = ["PLAN_FORMAT", "plan_prompt"]

PLAN_FORMAT = """\
Answer with a plan of tool calls, one step per line, then the line join():

$1 = <tool>(<name>=<value>, ...)
$2 = <tool>(<name>=$1.<path>, ...)
join()

Values are JSON (text in double quotes, numbers, true, false, null, lists, objects)
or a reference to the output of an earlier step: $1 is its whole output, $1.items[0].url
a part of it (keys as .name, list items as [0]). A step may only use steps written
before it. Steps run as soon as their inputs are ready, several at once.
You will then get every step's result. Answer the user in plain text without any
plan line once you can; write a new plan if you need more. Lines that do not start
with $<n> = are read as your own text."""


def plan_prompt(tools: Sequence[Mapping[str, Any]]) -> str:
    """The system prompt for ``tools`` (OpenAI function schemas, as the catalogue gives)."""
    lines = ["You can call these tools:"]
    for schema in tools:
        function = schema.get("function", schema)
        name = function.get("name", "?")
        description = str(function.get("description") or "").strip().splitlines()
        parameters = orjson.dumps(function.get("parameters", {})).decode()
        summary = f" - {description[0]}" if description else ""
        lines.append(f"- {name}{summary}; arguments: {parameters}")
    return "\n".join([*lines, "", PLAN_FORMAT])
