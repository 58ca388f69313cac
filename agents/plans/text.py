"""The plan text a model writes in plan mode, read line by line as it streams.

::

    $1 = search(query="kafka exactly once")
    $2 = fetch(url=$1.results[0].url)
    $3 = summarize(text=$2.body, words=50)
    join()

A step is ``$<n> = <tool>(<name>=<value>, ...)`` on one line. A value is JSON
(text in double quotes, a number, true, false, null, a list, an object) or a
reference ``$<m>`` to an earlier step's output, with an optional path into it
(``$1.results[0].url``, the grammar of :mod:`.paths`); references stand alone,
not inside a JSON list or object. ``join()`` ends the plan. Any other line is
the model's own text and is left alone.

Each step becomes a call the moment its line is complete; its references
become ``{"$ref": "$<m>", "path": ...}`` objects naming the step, and
``depends_on`` the steps it names. A line that starts like a step and breaks
the grammar, a reference to a step not written before it (which is also how a
cycle shows up: no step can name a later one), a repeated step number, or more
steps than a plan may hold becomes a :class:`PlanProblem` the model is told about.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .exceptions import PlanError, PlanSyntaxError, UnknownReferenceError
from .paths import parse_path
from .refs import PATH_KEY, REF_KEY

__all__ = ["MAX_LINE_CHARS", "MAX_STEPS", "PlanLine", "PlanProblem", "PlanStep", "PlanStream",
           "parse_plan", "step_ref"]

MAX_LINE_CHARS = 8_192
MAX_STEPS = 64
MAX_ARGUMENTS = 64

_STEP_START = re.compile(r"\s*\$(\d{1,9})\s*=")
_STEP_HEAD = re.compile(r"\s*\$([1-9][0-9]{0,3})\s*=\s*([A-Za-z_][A-Za-z0-9_.-]{0,63})\s*\(")
_JOIN = re.compile(r"\s*join\(\s*\)\s*$")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_REF = re.compile(r"\$([1-9][0-9]{0,3})((?:\.[A-Za-z_][A-Za-z0-9_-]*|\[[0-9]+\])*)")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


_DECODER = json.JSONDecoder(parse_constant=_no_constant)


def step_ref(step_id: int) -> str:
    """The ``$ref`` a reference to plan step ``step_id`` carries until it becomes a call_id."""
    return f"${step_id}"


@dataclass(frozen=True, slots=True)
class PlanStep:
    """One call of the plan: its number, tool, arguments (references as ``$ref`` objects
    naming steps) and the steps it waits for, in the order first named."""

    step_id: int
    tool: str
    arguments: dict[str, Any]
    depends_on: tuple[int, ...]
    index: int  # its place among the plan's step lines, from 0
    line: str


@dataclass(frozen=True, slots=True)
class PlanProblem:
    """A line that starts like a step and cannot become one, and why."""

    step_id: int | None
    error: str
    index: int
    line: str


PlanLine = PlanStep | PlanProblem


@dataclass(slots=True)
class PlanStream:
    """Reads plan text as it streams in: ``feed`` returns the steps its complete lines
    make, ``finish`` those of the last line. Bounded: a line is cut at
    :data:`MAX_LINE_CHARS`, a plan at :data:`MAX_STEPS` steps."""

    _pending: str = ""
    _skipping: bool = False  # the rest of an over-long line
    _joined: bool = False
    _ids: set[int] = field(default_factory=set)
    _index: int = 0

    def feed(self, text: str) -> list[PlanLine]:
        lines: list[PlanLine] = []
        self._pending += text
        while True:
            end = self._pending.find("\n")
            if end < 0:
                break
            line, self._pending = self._pending[:end], self._pending[end + 1:]
            if self._skipping:
                self._skipping = False
                continue
            lines += self._line(line)
        if len(self._pending) > MAX_LINE_CHARS and not self._skipping:
            lines += self._too_long(self._pending)
            self._pending, self._skipping = "", True
        elif self._skipping:
            self._pending = ""
        return lines

    def finish(self) -> list[PlanLine]:
        line, self._pending = self._pending, ""
        if self._skipping or not line.strip():
            return []
        return self._line(line)

    @property
    def steps(self) -> int:
        return self._index

    def _too_long(self, line: str) -> list[PlanLine]:
        if self._joined or _STEP_START.match(line) is None:
            return []
        return [self._problem(None, f"the line is over {MAX_LINE_CHARS} characters", line)]

    def _line(self, line: str) -> list[PlanLine]:
        if self._joined:
            return []
        if _JOIN.match(line):
            self._joined = True
            return []
        if _STEP_START.match(line) is None:
            return []  # the model's own text
        if self._index >= MAX_STEPS:
            return [self._problem(None, f"a plan holds at most {MAX_STEPS} steps", line)]
        try:
            step = parse_step(line, self._ids, self._index)
        except PlanError as exc:
            head = _STEP_START.match(line)
            step_id = int(head.group(1)) if head is not None else None
            if step_id is not None and step_id not in self._ids:
                self._ids.add(step_id)  # a dependent of a refused step is refused too
            return [self._problem(step_id, str(exc), line)]
        self._ids.add(step.step_id)
        self._index += 1
        return [step]

    def _problem(self, step_id: int | None, error: str, line: str) -> PlanProblem:
        problem = PlanProblem(step_id, error, self._index, line[:200])
        self._index += 1
        return problem


def parse_plan(text: str) -> list[PlanLine]:
    """The steps and problems of a whole plan text."""
    stream = PlanStream()
    return [*stream.feed(text), *stream.finish()]


def parse_step(line: str, earlier: set[int], index: int) -> PlanStep:
    """One step line; ``earlier`` holds the numbers of the steps written before it."""
    head = _STEP_HEAD.match(line)
    if head is None:
        raise PlanSyntaxError("write a step as $<n> = <tool>(<name>=<value>, ...), "
                              "n from 1 to 9999")
    step_id, tool = int(head.group(1)), head.group(2)
    if step_id in earlier:
        raise PlanSyntaxError(f"step ${step_id} is written twice")
    arguments, depends_on = _arguments(line, head.end(), step_id, earlier)
    return PlanStep(step_id, tool, arguments, tuple(depends_on), index, line)


def _arguments(line: str, position: int, step_id: int,
               earlier: set[int]) -> tuple[dict[str, Any], list[int]]:
    arguments: dict[str, Any] = {}
    depends_on: list[int] = []
    position = _skip(line, position)
    if line.startswith(")", position):
        return arguments, _after_close(line, position + 1, depends_on)
    while True:
        name = _NAME.match(line, position)
        if name is None:
            raise PlanSyntaxError(f"expected an argument name at character {position}")
        if name.group() in arguments:
            raise PlanSyntaxError(f"argument {name.group()!r} is given twice")
        position = _skip(line, name.end())
        if not line.startswith("=", position):
            raise PlanSyntaxError(f"expected '=' after {name.group()!r}")
        value, position = _value(line, _skip(line, position + 1), step_id, earlier, depends_on)
        arguments[name.group()] = value
        if len(arguments) > MAX_ARGUMENTS:
            raise PlanSyntaxError(f"a step takes at most {MAX_ARGUMENTS} arguments")
        position = _skip(line, position)
        if line.startswith(",", position):
            position = _skip(line, position + 1)
            continue
        if line.startswith(")", position):
            return arguments, _after_close(line, position + 1, depends_on)
        raise PlanSyntaxError(f"expected ',' or ')' at character {position}")


def _value(line: str, position: int, step_id: int, earlier: set[int],
           depends_on: list[int]) -> tuple[Any, int]:
    ref = _REF.match(line, position)
    if ref is not None:
        target = int(ref.group(1))
        if target == step_id:
            raise UnknownReferenceError(f"step ${step_id} uses its own output (a cycle)")
        if target not in earlier:
            raise UnknownReferenceError(
                f"${target} is not a step written before ${step_id}; a step may only use "
                "earlier steps, so plans have no cycles")
        path = ref.group(2).removeprefix(".")
        parse_path(path)  # checks the bounds; the executor reads it again
        if target not in depends_on:
            depends_on.append(target)
        value: dict[str, Any] = {REF_KEY: step_ref(target)}
        if path:
            value[PATH_KEY] = path
        return value, ref.end()
    try:
        return _DECODER.raw_decode(line, position)
    except (ValueError, RecursionError) as exc:
        raise PlanSyntaxError(f"cannot read the value at character {position}: write JSON "
                              "or a reference such as $1.results[0].url") from exc


def _after_close(line: str, position: int, depends_on: list[int]) -> list[int]:
    if line[position:].strip():
        raise PlanSyntaxError(f"unexpected text after ')': {line[position:position + 30]!r}")
    return depends_on


def _skip(line: str, position: int) -> int:
    while position < len(line) and line[position] in " \t\r":
        position += 1
    return position

