"""Read a tenant policy file (TOML) into a :class:`Policy`, or say exactly what is wrong.

As with the limits file, a bad policy must stop a worker at start with one line
a person can act on: the file, where in it (line for syntax errors; key path
and its line for invalid values) and why. The file::

    [tenants.acme]
    tools = ["web_search", "add"]   # by name; "*" for any
    services = ["search"]           # or every tool of a service
    providers = ["openai"]
    models = ["gpt-4o-mini"]
    max_tokens = 4096               # per model turn; a session asking for none gets this
    max_turns = 8
    race = true                     # race groups allowed
    keep_top_n = false
    scorers = ["ok", "output.score"]

A tenant absent from the file may do nothing; a list left out allows nothing.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from async_toolformer.agents.policy import Policy, TenantPolicy
from async_toolformer.streams.config_file import ConfigFileError, parse_toml, read_text

__all__ = ["PolicyConfigError", "as_dict", "describe", "load_policy", "parse_policy",
           "worker_policy"]

logger = logging.getLogger(__name__)

_Names = list[str]


class PolicyConfigError(ConfigFileError):
    """A policy file is unreadable or invalid: names the file, where, and why."""



class _Tenant(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tools: _Names = []
    services: _Names = []
    providers: _Names = []
    models: _Names = []
    max_tokens: int | None = Field(default=None, ge=1)
    max_turns: int | None = Field(default=None, ge=1)
    race: bool = False
    keep_top_n: bool = False
    scorers: _Names = []


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tenants: dict[str, _Tenant] = Field(min_length=1)


def load_policy(path: str | Path) -> Policy:
    """Load and validate ``path``; raises :class:`PolicyConfigError` on any problem."""
    return parse_policy(read_text(path, PolicyConfigError), source=str(path))


def parse_policy(text: str, *, source: str = "<policy>") -> Policy:
    """Validate TOML text; ``source`` names it in errors."""
    data = parse_toml(text, source, PolicyConfigError)
    try:
        parsed = _File.model_validate(data)
    except ValidationError as exc:
        raise _explain(exc, text, source) from exc
    tenants = {name: TenantPolicy(
        tools=frozenset(t.tools), services=frozenset(t.services),
        providers=frozenset(t.providers), models=frozenset(t.models),
        max_tokens=t.max_tokens, max_turns=t.max_turns, race=t.race, keep_top_n=t.keep_top_n,
        scorers=frozenset(t.scorers)) for name, t in parsed.tenants.items()}
    return Policy(tenants=tenants, source=source)


def _explain(exc: ValidationError, text: str, source: str) -> PolicyConfigError:
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"]]
    path = ".".join(loc)
    line = _line_of(loc, text)
    where = f"{path} (line {line})" if line else path or None
    reason = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        reason = "unknown key (check its spelling)"
    elif error["type"] == "too_short" and loc == ["tenants"]:
        reason = "no tenant: add a [tenants.<name>] table"
    elif error["type"] == "missing" and loc == ["tenants"]:
        reason = "no [tenants.<name>] table"
    if "input" in error and error["type"] not in {"missing", "extra_forbidden"} \
            and not isinstance(error["input"], dict):
        reason += f" (got {error['input']!r})"
    more = len(exc.errors()) - 1
    if more:
        reason += f" [and {more} more problem{'s' if more > 1 else ''}]"
    return PolicyConfigError(path=source, where=where, reason=reason)


def _line_of(loc: list[str], text: str) -> int | None:
    """Best effort: the line of ``tenants.<name>.<key>``, else of the tenant's table."""
    lines = text.splitlines()
    if len(loc) < 2 or loc[0] != "tenants":
        return None
    header = re.compile(rf'^\s*\[\s*tenants\.("?){re.escape(loc[1])}\1\s*\]')
    start = next((n for n, line in enumerate(lines) if header.match(line)), None)
    if start is None:
        return None
    if len(loc) < 3:
        return start + 1
    key = re.compile(rf"^\s*{re.escape(loc[2])}\s*=")
    for n in range(start + 1, len(lines)):
        if lines[n].lstrip().startswith("["):
            break
        if key.match(lines[n]):
            return n + 1
    return start + 1


def worker_policy(path: Path | None) -> Policy | None:
    """The policy a worker enforces (None without a file), said in one log line at start."""
    policy = load_policy(path) if path is not None else None
    logger.info(describe(policy))
    return policy


def describe(policy: Policy | None) -> str:
    """One line for the worker's start: what policy it enforces."""
    if policy is None:
        return ("no tenant policy (TOOLFORMER_POLICY_FILE unset): every tenant may call every "
                "tool and use any model, as in a single-tenant deployment")
    return f"tenant policy from {policy.source}: {len(policy.tenants)} tenants " \
           f"({', '.join(sorted(policy.tenants)[:10])}); others may do nothing"


def as_dict(policy: Policy) -> dict[str, Any]:
    """The policy as plain data (for ``toolformer policy check``)."""
    return {name: {"tools": sorted(t.tools), "services": sorted(t.services),
                   "providers": sorted(t.providers), "models": sorted(t.models),
                   "max_tokens": t.max_tokens, "max_turns": t.max_turns, "race": t.race,
                   "keep_top_n": t.keep_top_n, "scorers": sorted(t.scorers)}
            for name, t in sorted(policy.tenants.items())}
