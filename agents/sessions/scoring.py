"""Scorers: how race groups and keep_top_n rank results.

A scorer maps a ToolCallCompleted to a float. Built-ins: ``ok`` (1 for an ``ok``
result, else 0) and ``output.score`` (the number in the output's ``score``
field). Anything else is an importable ``module:function``, so a session's
options (which travel as JSON) can name the user's own scorer.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable

from async_toolformer.schemas import ToolCallCompleted

from .exceptions import UnknownScorerError

__all__ = ["BUILTIN_SCORERS", "Scorer", "resolve_scorer"]

Scorer = Callable[[ToolCallCompleted], float]


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


@functools.cache
def resolve_scorer(name: str) -> Scorer:
    """The scorer called ``name``; raises UnknownScorerError with what is accepted."""
    if name in BUILTIN_SCORERS:
        return BUILTIN_SCORERS[name]
    module_name, _, attribute = name.partition(":")
    if not module_name or not attribute:
        raise UnknownScorerError(
            f"unknown scorer {name!r}: use one of {sorted(BUILTIN_SCORERS)} or "
            "'package.module:function'")
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise UnknownScorerError(
            f"cannot load scorer {name!r}: {exc}. The module must be importable by the "
            "worker (on its PYTHONPATH)") from exc
    if not callable(found):
        raise UnknownScorerError(f"scorer {name!r} is not a function")
    scorer: Scorer = found
    return scorer
