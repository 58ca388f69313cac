"""Tenant policy: the file is validated like the limits file, and intake refuses what it
does not allow (``forbidden``) for calls and sessions; without a policy nothing changes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from async_toolformer.agents.executor import Admission, Refusal, admit
from async_toolformer.agents.executor.outcome import rejected_event
from async_toolformer.agents.policy import Policy, SessionPolicy
from async_toolformer.agents.sessions import RegistryCatalogue
from async_toolformer.agents.sessions.intake import SessionRefusal, admit_session
from async_toolformer.agents.tools import ToolRegistry, tool
from async_toolformer.schemas import DeadLetterReason, SessionStarted
from async_toolformer.streams.cli.main import app
from async_toolformer.streams.worker.policy_file import (
    PolicyConfigError,
    load_policy,
    parse_policy,
)

registry = ToolRegistry()


@tool(registry=registry)
async def add(a: int, b: int = 1) -> int:
    """Add."""
    return a + b


@tool(registry=registry, service="search-api")
async def search(q: str) -> str:
    """Search."""
    return q


@tool(registry=registry)
async def shell(cmd: str) -> str:
    """Something only some tenants may run."""
    return cmd


POLICY = parse_policy("""
[tenants.acme]
tools = ["add"]
services = ["search-api"]
providers = ["openai"]
models = ["gpt-4o-mini"]
max_tokens = 1000
max_turns = 4
race = true
scorers = ["ok"]

[tenants.root]
tools = ["*"]
providers = ["*"]
models = ["*"]
keep_top_n = true
scorers = ["*"]
""", source="policy.toml")


def _call(tool_name: str, tenant: str = "acme", **arguments: object) -> bytes:
    return orjson.dumps({"call_id": "c1", "session_id": "s1", "tool": tool_name,
                         "tenant": tenant, "arguments": arguments})


def test_calls_inside_the_policy_are_admitted_by_name_or_by_service() -> None:
    assert isinstance(admit(_call("add", a=1), b"s1", registry, max_bytes=10_000,
                            policy=POLICY), Admission)
    assert isinstance(admit(_call("search", q="x"), b"s1", registry, max_bytes=10_000,
                            policy=POLICY), Admission)
    assert isinstance(admit(_call("shell", "root", cmd="ls"), b"s1", registry,
                            max_bytes=10_000, policy=POLICY), Admission)


@pytest.mark.parametrize(("raw", "why"), [
    (_call("shell", cmd="ls"), "tenant 'acme' may not call 'shell'"),
    (_call("add", "stranger", a=1), "tenant 'stranger' is not in the policy"),
    (_call("add", "default", a=1), "tenant 'default' is not in the policy"),
])
def test_calls_outside_the_policy_are_forbidden_with_an_answer(raw: bytes, why: str) -> None:
    verdict = admit(raw, b"s1", registry, max_bytes=10_000, policy=POLICY)
    assert isinstance(verdict, Refusal)
    assert verdict.reason is DeadLetterReason.FORBIDDEN
    assert verdict.error == why
    answer = rejected_event(verdict, worker_id="w", received_at=_now())
    assert answer is not None
    assert answer.error is not None
    assert (answer.call_id, answer.session_id, answer.error.type) == ("c1", "s1", "forbidden")


def test_forbidden_comes_before_the_arguments_are_looked_at() -> None:
    verdict = admit(_call("shell", cmd=123), b"s1", registry, max_bytes=10_000, policy=POLICY)
    assert isinstance(verdict, Refusal)
    assert verdict.reason is DeadLetterReason.FORBIDDEN


def test_without_a_policy_every_tenant_may_call_every_tool() -> None:
    assert isinstance(admit(_call("shell", "anyone", cmd="ls"), b"s1", registry,
                            max_bytes=10_000), Admission)


RULES = SessionPolicy(POLICY, "openai", "gpt-4o-mini",
                      service_of=lambda name: registry.get(name).service)
CATALOGUE = RegistryCatalogue(registry)


def _session(tenant: str = "acme", **options: object) -> bytes:
    fields: dict[str, object] = {"type": "session_started", "session_id": "s1", "prompt": "hi",
                                 "tools": ["add", "search"], "tenant": tenant,
                                 "options": options}
    return orjson.dumps(fields)


def test_a_session_inside_the_policy_starts_with_its_tenants_ceiling() -> None:
    verdict = admit_session(_session(), b"s1", CATALOGUE, policy=RULES)
    assert isinstance(verdict, SessionStarted)
    assert verdict.options.max_tokens == 1000  # asked for none: the ceiling
    assert verdict.options.max_turns == 4  # left at the default: the ceiling
    asked = admit_session(_session(max_tokens=10), b"s1", CATALOGUE, policy=RULES)
    assert isinstance(asked, SessionStarted)
    assert asked.options.max_tokens == 10


@pytest.mark.parametrize(("raw", "why"), [
    (_session(model="gpt-4o"), "may not use model 'gpt-4o'"),
    (_session(provider="anthropic"), "may not use provider 'anthropic'"),
    (_session(max_tokens=1001), "options.max_tokens 1001 is over tenant 'acme'"),
    (_session(max_turns=5), "options.max_turns 5 is over tenant 'acme'"),
    (_session(keep_top_n=2), "may not use keep_top_n"),
    (_session(race=[{"tools": ["add"], "scorer": "output.score"}]),
     "may not use scorer 'output.score'"),
    (orjson.dumps({"type": "session_started", "session_id": "s1", "prompt": "hi",
                   "tools": ["shell"], "tenant": "acme"}), "may not call 'shell'"),
    (_session("stranger"), "tenant 'stranger' is not in the policy"),
])
def test_a_session_outside_the_policy_is_forbidden(raw: bytes, why: str) -> None:
    verdict = admit_session(raw, b"s1", CATALOGUE, policy=RULES)
    assert isinstance(verdict, SessionRefusal)
    assert verdict.reason is DeadLetterReason.FORBIDDEN
    assert why in verdict.error
    assert verdict.session_id == "s1"


def test_a_session_of_a_tenant_with_every_right_starts() -> None:
    raw = _session("root", model="any", provider="anthropic", keep_top_n=2,
                   scorer="output.score")
    verdict = admit_session(raw, b"s1", CATALOGUE, policy=RULES)
    assert isinstance(verdict, SessionStarted)
    assert verdict.options.max_tokens is None


@pytest.mark.parametrize(("text", "message"), [
    ("[tenants.a]\ntools = = 1\n", "policy.toml, line 2, column 9: TOML syntax error"),
    ("[tenants.a]\ntools = [\"x\"]\nmax_tokens = 0\n",
     "policy.toml, tenants.a.max_tokens (line 3): Input should be greater than or equal to 1"),
    ("[tenants.a]\ntool = [\"x\"]\n",
     "policy.toml, tenants.a.tool (line 2): unknown key (check its spelling)"),
    ("[tenants.a]\n\n[tenants.b]\nrace = \"maybe\"\n", "policy.toml, tenants.b.race (line 4)"),
    ("", "policy.toml, tenants: no [tenants.<name>] table"),
    ("[tenants]\n", "policy.toml, tenants: no tenant: add a [tenants.<name>] table"),
])
def test_a_bad_policy_file_says_where_and_why(text: str, message: str) -> None:
    with pytest.raises(PolicyConfigError) as caught:
        parse_policy(text, source="policy.toml")
    assert str(caught.value).startswith(message), str(caught.value)


def test_an_unreadable_policy_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(PolicyConfigError, match="cannot read the file"):
        load_policy(tmp_path / "missing.toml")


def test_policy_check_prints_the_tenants_or_fails_with_one_line(tmp_path: Path) -> None:
    good = tmp_path / "policy.toml"
    good.write_text("[tenants.acme]\ntools = [\"add\"]\nmax_tokens = 500\n")
    shown = CliRunner().invoke(app, ["policy", "check", str(good)])
    assert shown.exit_code == 0, shown.output
    assert "acme" in shown.output
    assert "500" in shown.output
    bad = tmp_path / "bad.toml"
    bad.write_text("[tenants.acme]\nmax_tokens = -1\n")
    refused = CliRunner().invoke(app, ["policy", "check", str(bad)])
    assert refused.exit_code == 1
    assert "tenants.acme.max_tokens (line 2)" in refused.output


def test_policy_model_is_deny_by_default() -> None:
    empty = Policy(tenants={})
    assert empty.call_problem("default", "add", None) == "tenant 'default' is not in the policy"


def _now() -> datetime:
    return datetime.now(UTC)
