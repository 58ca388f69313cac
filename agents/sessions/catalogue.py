"""What a session needs to know about tools, behind a narrow seam.

The machine checks a proposed call (known tool, arguments that fit) before it
publishes anything, so the model gets a precise error back instead of a dead
letter; and it reads each tool's time budget to estimate what a cancellation saved.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from ..exceptions import InvalidArgumentsError, UnknownToolError
from ..tools import ToolRegistry

__all__ = ["RegistryCatalogue", "ToolCatalogue"]


class ToolCatalogue(Protocol):
    def knows(self, name: str) -> bool: ...

    def check(self, name: str, arguments: dict[str, Any]) -> str | None:
        """None when the call may run, else what is wrong, worded for the model."""
        ...

    def schemas(self, names: Iterable[str]) -> tuple[Mapping[str, Any], ...]: ...

    def budget_s(self, name: str) -> float:
        """How long one call may run (its timeout)."""
        ...


class RegistryCatalogue:
    """A :class:`ToolCatalogue` over the worker's tool registry."""

    def __init__(self, registry: ToolRegistry, *, default_timeout_s: float = 30.0) -> None:
        self._registry = registry
        self._default_timeout_s = default_timeout_s

    def knows(self, name: str) -> bool:
        return name in self._registry

    def check(self, name: str, arguments: dict[str, Any]) -> str | None:
        try:
            self._registry.get(name).validate(arguments)
        except (UnknownToolError, InvalidArgumentsError) as exc:
            return str(exc)
        return None

    def schemas(self, names: Iterable[str]) -> tuple[Mapping[str, Any], ...]:
        return tuple(self._registry.get(name).openai_schema() for name in names)

    def budget_s(self, name: str) -> float:
        if name not in self._registry:
            return self._default_timeout_s
        return self._registry.get(name).timeout_s or self._default_timeout_s
