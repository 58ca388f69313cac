"""Errors of plans and dependent calls; each names the call, reference or line at fault."""

from __future__ import annotations

from async_toolformer.schemas.exceptions import ToolformerError

__all__ = [
    "DependencyCycleError",
    "DependencyLimitError",
    "InvalidReferenceError",
    "PathNotFoundError",
    "PlanError",
    "PlanSyntaxError",
    "UnknownReferenceError",
]


class PlanError(ToolformerError):
    """Base of the errors of plans and of calls that depend on other calls."""


class InvalidReferenceError(PlanError):
    """A ``{"$ref", "path"}`` object or its path does not follow the grammar."""


class UnknownReferenceError(PlanError):
    """A reference names a call the request does not list in ``depends_on`` (or a plan
    step not written before it)."""


class PathNotFoundError(PlanError):
    """A reference's path leads nowhere in its input's result (a missing key, an index
    past the end, a step into a value that is not a list or an object)."""


class DependencyCycleError(PlanError):
    """Calls wait for each other (or a call for itself): none of them could ever start."""


class DependencyLimitError(PlanError):
    """More inputs or references than a call may have."""


class PlanSyntaxError(PlanError):
    """A plan line that starts like a step (``$1 = ...``) and cannot be read as one."""
