"""One error tree: every error of ours is a ToolformerError, drawn in the root module's doc."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from dataclasses import dataclass
from types import ModuleType

import pytest
import typer

from async_toolformer.agents.exceptions import ToolFailure, UnknownToolError
from async_toolformer.agents.sessions.exceptions import UnknownScorerError
from async_toolformer.schemas import exceptions as root_module
from async_toolformer.schemas.exceptions import InvalidEventError, ToolformerError
from async_toolformer.streams.cli._runtime import run
from async_toolformer.streams.devtools.stack.exceptions import BrokerStartError, RedisStartError
from async_toolformer.streams.exceptions import ServiceUnavailableError
from async_toolformer.streams.redis.ledger.exceptions import LedgerUnavailableError
from async_toolformer.streams.redis.ratelimit.exceptions import RateLimiterUnavailableError

PACKAGES = ("async_toolformer.schemas", "async_toolformer.agents", "async_toolformer.streams")
# Raised by tool authors' code, not by this package: its docstring says why it stays outside.
OUTSIDE_THE_TREE = {ToolFailure}
UNAVAILABLE = {ServiceUnavailableError, LedgerUnavailableError, RateLimiterUnavailableError,
               BrokerStartError, RedisStartError}


def _modules() -> list[ModuleType]:
    modules = []
    for name in PACKAGES:
        package = importlib.import_module(name)
        modules.append(package)
        for info in pkgutil.walk_packages(package.__path__, f"{name}."):
            if info.name.rsplit(".", 1)[-1] != "__main__":  # runs the CLI when imported
                modules.append(importlib.import_module(info.name))
    return modules


def _our_exceptions() -> set[type[BaseException]]:
    found: set[type[BaseException]] = set()
    for module in _modules():
        for value in vars(module).values():
            if (inspect.isclass(value) and issubclass(value, BaseException)
                    and value.__module__ == module.__name__):
                found.add(value)
    return found


@dataclass(frozen=True)
class Node:
    name: str
    module: str
    parent: str
    also: str | None
    retriable: bool


_NODE = re.compile(r"(?P<name>[A-Z]\w*)(?: \+ (?P<also>[A-Z]\w*))?(?P<retriable> \[retriable\])?"
                   r"\s+(?P<module>[a-z][\w.]*)")
_CONTINUED = re.compile(r"[ │]*(?P<module>[a-z][\w.]*)")


def _drawing() -> dict[str, Node]:
    """The tree in the root module's docstring, node by node."""
    lines = (root_module.__doc__ or "").split("\n")
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("ToolformerError "))
    rows: list[str] = []  # one per node: a long node's module continues on the next line
    for line in lines[start:]:
        if not line.strip():
            break
        if _CONTINUED.fullmatch(line) and rows and not _NODE.fullmatch(_body(rows[-1])):
            rows[-1] += " " + line.lstrip(" │")
        else:
            rows.append(line)
    nodes: dict[str, Node] = {}
    parents = ["Exception"]  # parents[d - 1]: the node drawn last at depth d
    for row in rows:
        match = _NODE.fullmatch(_body(row))
        assert match, f"not a node of the tree: {row!r}"
        depth = (len(row) - len(row.lstrip(" │├└─"))) // 4
        del parents[depth:]
        assert len(parents) == depth, f"{match['name']} is indented under nothing"
        assert match["name"] not in nodes, f"{match['name']} is drawn twice"
        nodes[match["name"]] = Node(match["name"], match["module"], parents[-1], match["also"],
                                    match["retriable"] is not None)
        parents.append(match["name"])
    return nodes


def _body(row: str) -> str:
    return row.lstrip(" │├└─").rstrip()


def test_every_error_of_ours_is_under_the_root() -> None:
    stray = {f"{cls.__module__}.{cls.__qualname__}" for cls in _our_exceptions()
             if not issubclass(cls, ToolformerError) and cls not in OUTSIDE_THE_TREE}
    assert not stray, f"errors outside the ToolformerError tree: {sorted(stray)}"


def test_the_tool_authors_exception_stays_outside_and_says_why() -> None:
    for cls in OUTSIDE_THE_TREE:
        assert not issubclass(cls, ToolformerError)
        assert "Outside the :class:`ToolformerError` tree" in (cls.__doc__ or "")
        assert f"{cls.__module__.removeprefix('async_toolformer.')}.{cls.__name__}" in (
            root_module.__doc__ or "")


def test_the_drawing_shows_every_error_with_its_module_and_bases() -> None:
    tree = {cls.__name__: cls for cls in _our_exceptions() if issubclass(cls, ToolformerError)}
    assert len(tree) == len({cls for cls in _our_exceptions()
                             if issubclass(cls, ToolformerError)}), "two errors share a name"
    drawing = _drawing()
    assert set(tree) - set(drawing) == set(), "errors missing from the drawing"
    assert set(drawing) - set(tree) == set(), "the drawing names errors that do not exist"
    for name, node in drawing.items():
        cls = tree[name]
        assert f"async_toolformer.{node.module}" == cls.__module__, name
        bases = [base.__name__ for base in cls.__bases__]
        assert [node.parent, *([node.also] if node.also else [])] == bases, name
        assert node.retriable is cls.retriable, name


def test_retriable_is_true_exactly_on_the_unavailable_errors() -> None:
    tree = {cls for cls in _our_exceptions() if issubclass(cls, ToolformerError)}
    assert tree >= UNAVAILABLE
    assert {cls for cls in tree if cls.retriable} == UNAVAILABLE
    assert ToolformerError.retriable is False
    assert all(cls.retriable is issubclass(cls, ServiceUnavailableError) for cls in tree)


@pytest.mark.parametrize("error", [
    InvalidEventError("not a tool call", call_id="c1"),
    UnknownToolError("no tool 'x'"),
    UnknownScorerError("no scorer 'y'"),
    LedgerUnavailableError("redis://nowhere:1/0", ConnectionError("refused")),
])
def test_the_cli_turns_an_error_of_any_area_into_one_line(
        error: ToolformerError, capsys: pytest.CaptureFixture[str]) -> None:
    async def fails() -> None:
        raise error

    with pytest.raises(typer.Exit) as info:
        run(fails())
    assert info.value.exit_code == 1
    assert " ".join(str(error).split())[:40] in " ".join(capsys.readouterr().err.split())
