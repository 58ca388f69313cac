"""Plans: calls that take their arguments from earlier calls' results, without a model turn.

Pure logic, no I/O: the reference syntax and its path grammar (:mod:`.paths`,
:mod:`.refs`), the checks of a call's dependencies (:mod:`.graph`), and the plan
text a model writes in plan mode with its incremental parser (:mod:`.text`,
:mod:`.prompt`). docs/plans.md describes the formats.
"""

from __future__ import annotations

from .exceptions import (
    DependencyCycleError,
    DependencyLimitError,
    InvalidReferenceError,
    PathNotFoundError,
    PlanError,
    PlanSyntaxError,
    UnknownReferenceError,
)
from .graph import DependencyLimits, check_dependencies, find_cycle
from .paths import Path, parse_path, resolve_path
from .prompt import plan_prompt
from .refs import Ref, find_refs, substitute
from .text import PlanLine, PlanStep, PlanStream, parse_plan

__all__ = [
    "DependencyCycleError",
    "DependencyLimitError",
    "DependencyLimits",
    "InvalidReferenceError",
    "Path",
    "PathNotFoundError",
    "PlanError",
    "PlanLine",
    "PlanStep",
    "PlanStream",
    "PlanSyntaxError",
    "Ref",
    "UnknownReferenceError",
    "check_dependencies",
    "find_cycle",
    "find_refs",
    "parse_path",
    "parse_plan",
    "plan_prompt",
    "resolve_path",
    "substitute",
]
