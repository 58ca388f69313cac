"""Scorers: how race groups and keep_top_n rank results.

A scorer maps a ToolCallCompleted to a float. Built-ins: ``ok`` (1 for an ``ok``
result, else 0) and ``output.score`` (the number in the output's ``score``
field). A session's options name a scorer; the name is only looked up, never
imported: a producer must not choose the code that runs in the worker. The
operator adds scorers when the worker starts, by naming ``module:function`` in
``TOOLFORMER_SCORERS`` (:func:`load_scorers`) or with ``@scorer`` in a module of
``TOOLFORMER_TOOLS``. A name that is not registered refuses the session.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import TypeVar

from async_toolformer.schemas import ToolCallCompleted

from .exceptions import UnknownScorerError

__all__ = ["BUILTIN_SCORERS", "Scorer", "known_scorers", "load_scorers", "register_scorer",
           "resolve_scorer", "scorer"]

Scorer = Callable[[ToolCallCompleted], float]
S = TypeVar("S", bound=Scorer)


def _ok(result: ToolCallCompleted) -> float:
    return 1.0 if result.ok else 0.0


def _output_score(result: ToolCallCompleted) -> float:
    output = result.output
    if result.ok and isinstance(output, dict):
        value = output.get("score")
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return 0.0


BUILTIN_SCORERS: dict[str, Scorer] = {"ok": _ok, "output.score": _output_score}

_registered: dict[str, Scorer] = dict(BUILTIN_SCORERS)


def register_scorer(name: str, fn: Scorer) -> None:
    """Make ``fn`` the scorer called ``name``; a name taken by another function is an error."""
    if not callable(fn):
        raise UnknownScorerError(f"scorer {name!r} is not a function")
    existing = _registered.get(name)
    if existing is not None and existing is not fn:
        raise UnknownScorerError(f"two scorers are named {name!r}")
    _registered[name] = fn


def scorer(name: str) -> Callable[[S], S]:
    """Register the decorated function as the scorer called ``name`` (at import)."""

    def register(fn: S) -> S:
        register_scorer(name, fn)
        return fn

    return register


def load_scorers(names: Iterable[str]) -> list[str]:
    """Import each ``module:function`` the operator named and register it under that name.

    Called once when the worker starts, from its settings; a name that cannot
    be loaded stops the start with :class:`UnknownScorerError`.
    """
    loaded = []
    for name in names:
        module_name, _, attribute = name.partition(":")
        if not module_name or not attribute:
            raise UnknownScorerError(f"scorer {name!r}: expected 'package.module:function'")
        try:
            found = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            raise UnknownScorerError(
                f"cannot load scorer {name!r}: {exc}. The module must be importable by the "
                "worker (on its PYTHONPATH)") from exc
        register_scorer(name, found)
        loaded.append(name)
    return loaded


def known_scorers() -> list[str]:
    return sorted(_registered)


def resolve_scorer(name: str) -> Scorer:
    """The registered scorer called ``name``; raises UnknownScorerError with what is known."""
    found = _registered.get(name)
    if found is None:
        raise UnknownScorerError(
            f"unknown scorer {name!r}: this worker has {known_scorers()}; an operator adds "
            "one with TOOLFORMER_SCORERS (module:function), loaded when the worker starts")
    return found
