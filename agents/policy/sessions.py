"""A session request against its tenant's policy, with the worker's model defaults."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from async_toolformer.schemas import SessionStarted

from .model import Policy

__all__ = ["SessionPolicy"]


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """``policy`` as a session's intake asks it.

    A session that names no provider or model uses the worker's defaults
    (``default_provider``, ``default_model``), so those are what the policy is
    asked about; ``service_of`` names a tool's service (None if it has none).
    """

    policy: Policy
    default_provider: str
    default_model: str
    service_of: Callable[[str], str | None]

    def admit(self, request: SessionStarted) -> SessionStarted | str:
        """``request`` bounded by its tenant's ceilings, or why it may not start."""
        request = self.policy.bounded(request)
        options = request.options
        problem = self.policy.session_problem(
            request, provider=options.provider or self.default_provider,
            model=options.model or self.default_model, service_of=self.service_of)
        return problem if problem is not None else request
