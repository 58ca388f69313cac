"""The tool registry and the ``@tool`` decorator.

A tool is a plain function, sync or async, with annotated keyword parameters.
The decorator records how to run it (timeout, retries, idempotency, which
service's quota it draws on) and returns the function unchanged, so it can still
be called and tested directly::

    @tool(timeout_s=5, retry=RetryPolicy(attempts=3), service="search-api")
    async def web_search(query: str, limit: int = 5) -> list[str]:
        '''Search the web and return the top result URLs.'''

A call may ask for a timeout of its own; ``max_timeout_s`` bounds what it may
ask for, as the worker's ``TOOLFORMER_MAX_TIMEOUT_S`` does for every tool
(:meth:`ToolSpec.timeout_for`): a producer cannot hold a worker's capacity with
calls that never end.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from pydantic import BaseModel

from ..exceptions import ToolDefinitionError, UnknownToolError
from .arguments import arguments_model, parameters_schema, validate_arguments
from .retry import NO_RETRY, RetryPolicy

F = TypeVar("F", bound=Callable[..., Any])
MAX_CACHE_TTL_S = 86_400.0
"""The longest a tool may let its results be cached: one day."""
Cost = float | Callable[[dict[str, Any]], float]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """Everything the executor needs to know to run one tool."""

    name: str
    description: str
    fn: Callable[..., Any]
    arguments: type[BaseModel]
    timeout_s: float | None = None
    retry: RetryPolicy = NO_RETRY
    idempotent: bool = False
    service: str | None = None
    cost: Cost = 1.0
    max_timeout_s: float | None = None  # the most a call may ask for (None: the worker's bound)
    read_only: bool = False  # changes nothing anywhere: a prerequisite of caching its results
    cache_ttl_s: float | None = None  # how long an ok result may answer identical calls
    is_async: bool = field(init=False)
    takes_any: bool = field(init=False)  # only ``**kwargs``: there is nothing to validate

    def __post_init__(self) -> None:
        object.__setattr__(self, "is_async", inspect.iscoroutinefunction(self.fn))
        object.__setattr__(self, "takes_any", not self.arguments.model_fields
                           and self.arguments.model_config.get("extra") == "allow")

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Validated keyword arguments for the function (raises InvalidArgumentsError)."""
        if self.takes_any:
            return dict(arguments)
        return validate_arguments(self.arguments, arguments)

    def timeout_for(self, requested_s: float | None, *, default_s: float,
                    max_s: float) -> float:
        """The timeout one call runs under: what it asked for, else the tool's, else
        ``default_s``; never more than ``max_timeout_s`` nor the worker's ``max_s``.

        A request is clamped, not refused: its schema already refused what is
        not a finite positive number, so what is left is only too generous.
        """
        chosen = requested_s or self.timeout_s or default_s
        bound = max_s if self.max_timeout_s is None else min(max_s, self.max_timeout_s)
        return min(chosen, bound)

    def cost_of(self, arguments: dict[str, Any]) -> float:
        """Units of quota one call with these arguments consumes."""
        return float(self.cost(arguments) if callable(self.cost) else self.cost)

    def openai_schema(self) -> dict[str, Any]:
        """The tool as OpenAI Chat Completions ``tools=[...]`` expects it."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": parameters_schema(self.arguments),
            },
        }


class ToolRegistry:
    """Tools by name. Workers look calls up here; the LLM loop sends its schemas."""

    def __init__(self) -> None:
        self._tools: dict[str, ToolSpec] = {}

    def add(self, spec: ToolSpec) -> None:
        existing = self._tools.get(spec.name)
        if existing is not None and existing.fn is not spec.fn:
            raise ToolDefinitionError(
                f"two tools are named {spec.name!r} ({_where(existing.fn)} and "
                f"{_where(spec.fn)}); pass name=... to one of them"
            )
        self._tools[spec.name] = spec

    def get(self, name: str) -> ToolSpec:
        try:
            return self._tools[name]
        except KeyError:
            known = ", ".join(sorted(self._tools)) or "none"
            raise UnknownToolError(f"no tool named {name!r} (known: {known})") from None

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[ToolSpec]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def names(self) -> list[str]:
        return sorted(self._tools)

    def openai_tools(self, names: list[str] | None = None) -> list[dict[str, Any]]:
        """OpenAI tool schemas for ``names`` (all tools when None)."""
        chosen = names if names is not None else self.names()
        return [self.get(name).openai_schema() for name in chosen]


default_registry = ToolRegistry()
"""Where ``@tool`` registers unless told otherwise; workers serve this one."""


@overload
def tool(fn: F, /) -> F: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    timeout_s: float | None = None,
    retry: RetryPolicy = NO_RETRY,
    idempotent: bool = False,
    service: str | None = None,
    cost: Cost = 1.0,
    max_timeout_s: float | None = None,
    read_only: bool = False,
    cache_ttl_s: float | None = None,
    registry: ToolRegistry | None = None,
) -> Callable[[F], F]: ...


def tool(
    fn: F | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout_s: float | None = None,
    retry: RetryPolicy = NO_RETRY,
    idempotent: bool = False,
    service: str | None = None,
    cost: Cost = 1.0,
    max_timeout_s: float | None = None,
    read_only: bool = False,
    cache_ttl_s: float | None = None,
    registry: ToolRegistry | None = None,
) -> F | Callable[[F], F]:
    """Register a function as a tool. Usable bare (``@tool``) or with options.

    ``max_timeout_s`` bounds the timeout a call may ask for (see :meth:`ToolSpec.timeout_for`).
    ``cache_ttl_s`` lets an ``ok`` result answer identical calls (same tenant, tool and
    validated arguments) for that long; only a tool both ``read_only`` and ``idempotent``
    may declare it, at most :data:`MAX_CACHE_TTL_S` (docs/semantics.md, "Result cache").
    """

    def register(func: F) -> F:
        tool_name = name or func.__name__
        for option, value in (("timeout_s", timeout_s), ("max_timeout_s", max_timeout_s)):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ToolDefinitionError(
                    f"tool {tool_name!r}: {option} must be a finite positive number")
        _check_cache_ttl(tool_name, cache_ttl_s, read_only=read_only, idempotent=idempotent)
        spec = ToolSpec(
            name=tool_name,
            description=description or inspect.getdoc(func) or tool_name,
            fn=func,
            arguments=arguments_model(func, tool_name),
            timeout_s=timeout_s,
            retry=retry,
            idempotent=idempotent,
            service=service,
            cost=cost,
            max_timeout_s=max_timeout_s,
            read_only=read_only,
            cache_ttl_s=cache_ttl_s,
        )
        (registry if registry is not None else default_registry).add(spec)
        return func

    return register(fn) if fn is not None else register


def _check_cache_ttl(name: str, ttl_s: float | None, *, read_only: bool,
                     idempotent: bool) -> None:
    """A cached result stands in for a run, so only a tool whose run changes nothing may
    declare a TTL, and only a bounded one."""
    if ttl_s is None:
        return
    if not (read_only and idempotent):
        raise ToolDefinitionError(
            f"tool {name!r}: cache_ttl_s needs read_only=True and idempotent=True (a cached "
            "result stands in for a run, so the run must change nothing)")
    if isinstance(ttl_s, bool) or not isinstance(ttl_s, int | float) or not (
            math.isfinite(ttl_s) and 0 < ttl_s <= MAX_CACHE_TTL_S):
        raise ToolDefinitionError(
            f"tool {name!r}: cache_ttl_s must be a finite number of seconds in "
            f"(0, {MAX_CACHE_TTL_S:g}]")


def _where(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"
