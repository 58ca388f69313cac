"""What each tenant may do, and the decisions taken from it.

Deny by default: a tenant absent from the policy may do nothing, and a list a
tenant's entry leaves out allows nothing (``"*"`` allows anything). Ceilings
left out are no ceilings beyond the worker's own limits. A decision is None
(allowed) or the reason it is not, worded for whoever sent the request.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from async_toolformer.schemas import SessionStarted

__all__ = ["ANY", "Policy", "TenantPolicy"]

ANY = "*"
"""In a list of names: any name."""


def _allows(names: Collection[str], name: str | None) -> bool:
    return ANY in names or (name is not None and name in names)


@dataclass(frozen=True, slots=True)
class TenantPolicy:
    """One tenant's rights: tools (by name or by service), models, ceilings, strategies."""

    tools: frozenset[str] = frozenset()
    services: frozenset[str] = frozenset()
    providers: frozenset[str] = frozenset()
    models: frozenset[str] = frozenset()
    max_tokens: int | None = None
    max_turns: int | None = None
    race: bool = False
    keep_top_n: bool = False
    scorers: frozenset[str] = frozenset()

    def may_call(self, tool: str, service: str | None) -> bool:
        return _allows(self.tools, tool) or (service is not None and
                                             _allows(self.services, service))


@dataclass(frozen=True, slots=True)
class Policy:
    """Every tenant's :class:`TenantPolicy`; ``source`` names where it was read from."""

    tenants: Mapping[str, TenantPolicy] = field(default_factory=dict)
    source: str = "<policy>"

    def call_problem(self, tenant: str, tool: str, service: str | None) -> str | None:
        """Why ``tenant`` may not call ``tool`` (of ``service``), or None if it may."""
        rights = self.tenants.get(tenant)
        if rights is None:
            return f"tenant {tenant!r} is not in the policy"
        if not rights.may_call(tool, service):
            return f"tenant {tenant!r} may not call {tool!r}"
        return None

    def session_problem(self, request: SessionStarted, *, provider: str | None,
                        model: str | None, service_of: Callable[[str], str | None]
                        ) -> str | None:
        """Why ``request`` may not start, or None if it may.

        ``provider`` and ``model`` are the ones the session will use (its
        options, else the worker's defaults); ``service_of`` names a tool's service.
        """
        tenant = request.tenant
        rights = self.tenants.get(tenant)
        if rights is None:
            return f"tenant {tenant!r} is not in the policy"
        options = request.options
        denied = [name for name in request.tools if not rights.may_call(name, service_of(name))]
        checks: list[tuple[bool, str]] = [
            (not denied, f"tenant {tenant!r} may not call {', '.join(map(repr, denied))}"),
            (_allows(rights.providers, provider),
             f"tenant {tenant!r} may not use provider {provider!r}"),
            (_allows(rights.models, model), f"tenant {tenant!r} may not use model {model!r}"),
            (rights.max_tokens is None or options.max_tokens is None
             or options.max_tokens <= rights.max_tokens,
             f"options.max_tokens {options.max_tokens} is over tenant {tenant!r}'s ceiling "
             f"of {rights.max_tokens}"),
            (rights.max_turns is None or options.max_turns <= rights.max_turns,
             f"options.max_turns {options.max_turns} is over tenant {tenant!r}'s ceiling "
             f"of {rights.max_turns}"),
            (not options.race or rights.race, f"tenant {tenant!r} may not race calls"),
            (options.keep_top_n is None or rights.keep_top_n,
             f"tenant {tenant!r} may not use keep_top_n"),
        ]
        for ok, reason in checks:
            if not ok:
                return reason
        scorers = {group.scorer for group in options.race}
        if options.keep_top_n is not None:
            scorers.add(options.scorer)
        refused = sorted(name for name in scorers if not _allows(rights.scorers, name))
        if refused:
            return f"tenant {tenant!r} may not use scorer {', '.join(map(repr, refused))}"
        return None

    def bounded(self, request: SessionStarted) -> SessionStarted:
        """``request`` with its tenant's ceilings where it asks for nothing: max_tokens
        unset, max_turns left at its default."""
        rights = self.tenants.get(request.tenant)
        if rights is None:
            return request
        options = request.options
        update: dict[str, int] = {}
        if rights.max_tokens is not None and options.max_tokens is None:
            update["max_tokens"] = rights.max_tokens
        if (rights.max_turns is not None and "max_turns" not in options.model_fields_set
                and options.max_turns > rights.max_turns):
            update["max_turns"] = rights.max_turns
        if not update:
            return request
        return request.model_copy(update={"options": options.model_copy(update=update)})
