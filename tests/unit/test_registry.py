"""The @tool decorator: schemas from signatures, clear definition errors."""

from __future__ import annotations

from typing import Any

import pytest

from async_toolformer.agents.exceptions import ToolDefinitionError, UnknownToolError
from async_toolformer.agents.tools import ToolRegistry, tool


def test_openai_schema_comes_from_the_signature() -> None:
    registry = ToolRegistry()

    @tool(registry=registry, service="search-api", cost=lambda args: len(args["q"]))
    async def search(q: str, limit: int = 5) -> list[str]:
        """Search things."""
        return []

    spec = registry.get("search")
    schema = spec.openai_schema()["function"]
    assert schema["name"] == "search"
    assert schema["description"] == "Search things."
    assert schema["parameters"]["required"] == ["q"]
    assert schema["parameters"]["properties"]["limit"]["default"] == 5
    assert schema["parameters"]["additionalProperties"] is False
    assert spec.cost_of({"q": "abcd"}) == 4


def test_definition_errors_say_what_to_fix() -> None:
    registry = ToolRegistry()
    with pytest.raises(ToolDefinitionError, match="type annotation"):
        @tool(registry=registry)
        def untyped(x) -> None:  # type: ignore[no-untyped-def]
            """No annotation."""

    with pytest.raises(ToolDefinitionError, match="keyword"):
        @tool(registry=registry)
        def positional(*args: Any) -> None:
            """Positional only."""

    @tool(registry=registry, name="same")
    def first() -> None:
        """One."""

    with pytest.raises(ToolDefinitionError, match="two tools"):
        @tool(registry=registry, name="same")
        def second() -> None:
            """Two."""

    with pytest.raises(UnknownToolError, match="known: same"):
        registry.get("nope")


def test_keyword_arguments_are_validated_unless_the_tool_takes_any() -> None:
    from async_toolformer.agents.exceptions import InvalidArgumentsError

    registry = ToolRegistry()

    @tool(registry=registry)
    def anything(**arguments: Any) -> None:
        """Takes whatever it is given."""

    @tool(registry=registry)
    def counted(n: int, **rest: Any) -> None:
        """Needs a whole number, takes anything else."""

    given = {"n": "x", "deep": {"a": [1]}}
    taken = registry.get("anything").validate(given)
    assert taken == given
    assert taken is not given  # the caller's dict is not handed to the tool
    assert registry.get("counted").validate({"n": "3", "m": 1}) == {"n": 3, "m": 1}
    with pytest.raises(InvalidArgumentsError, match="n"):
        registry.get("counted").validate(given)
