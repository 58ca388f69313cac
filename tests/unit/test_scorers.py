"""Scorers come from a registry filled when the worker starts; a session never imports code."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from async_toolformer.agents.sessions import RegistryCatalogue, SessionRefusal, admit_session
from async_toolformer.agents.sessions.exceptions import UnknownScorerError
from async_toolformer.agents.sessions.scoring import (
    known_scorers,
    load_scorers,
    resolve_scorer,
    scorer,
)
from async_toolformer.agents.tools import load_tools
from async_toolformer.schemas import DeadLetterReason, ToolCallCompleted


@pytest.fixture
def planted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    """A module on the path that leaves a mark when imported: ``(module name, mark)``."""
    name = f"planted_{uuid.uuid4().hex[:8]}"
    mark = tmp_path / "imported"
    (tmp_path / f"{name}.py").write_text(
        f"from pathlib import Path\nPath({str(mark)!r}).write_text('ran')\n"
        "def score(result):\n    return 7.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name, mark
    sys.modules.pop(name, None)


def _session(scorer_name: str, *, in_race: bool) -> bytes:
    options: dict[str, object] = ({"race": [{"tools": ["sleep"], "scorer": scorer_name}]}
                                  if in_race else {"scorer": scorer_name, "keep_top_n": 1})
    return orjson.dumps({"type": "session_started", "session_id": "s1", "prompt": "hi",
                         "tools": ["sleep"], "options": options})


@pytest.mark.parametrize("in_race", [True, False])
def test_a_session_naming_a_module_is_refused_without_importing_it(
        planted: tuple[str, Path], in_race: bool) -> None:
    module, mark = planted
    verdict = admit_session(_session(f"{module}:score", in_race=in_race), b"s1",
                            RegistryCatalogue(load_tools([])))
    assert isinstance(verdict, SessionRefusal)
    assert verdict.reason is DeadLetterReason.INVALID_EVENT
    assert verdict.session_id == "s1"
    assert f"unknown scorer '{module}:score'" in verdict.error
    assert "TOOLFORMER_SCORERS" in verdict.error
    assert not mark.exists()
    assert module not in sys.modules


def test_an_operator_named_scorer_is_loaded_at_start_then_resolved(
        planted: tuple[str, Path]) -> None:
    module, mark = planted
    with pytest.raises(UnknownScorerError):
        resolve_scorer(f"{module}:score")
    assert load_scorers([f"{module}:score"]) == [f"{module}:score"]
    assert mark.exists()  # the operator's configuration ran it, at start
    assert f"{module}:score" in known_scorers()
    result = ToolCallCompleted.model_validate({
        "call_id": "c", "session_id": "s", "tool": "t", "status": "ok", "worker_id": "w",
        "timings": {"requested_at": "2024-01-01T00:00:00Z",
                    "received_at": "2024-01-01T00:00:00Z",
                    "finished_at": "2024-01-01T00:00:00Z", "queue_ms": 0, "run_ms": 0}})
    assert resolve_scorer(f"{module}:score")(result) == 7.0
    verdict = admit_session(_session(f"{module}:score", in_race=True), b"s1",
                            RegistryCatalogue(load_tools([])))
    assert not isinstance(verdict, SessionRefusal)


@pytest.mark.parametrize("name", ["no_colon", "no_such_module_xyz:score", "json:no_such"])
def test_a_scorer_the_operator_names_that_cannot_load_stops_the_start(name: str) -> None:
    with pytest.raises(UnknownScorerError, match=name.partition(":")[0]):
        load_scorers([name])


def test_the_decorator_registers_and_a_name_cannot_be_taken_twice() -> None:
    name = f"test.{uuid.uuid4().hex[:8]}"

    @scorer(name)
    def first(result: ToolCallCompleted) -> float:
        return 1.0

    assert resolve_scorer(name) is first
    with pytest.raises(UnknownScorerError, match="two scorers"):
        scorer(name)(lambda result: 2.0)
    assert {"ok", "output.score"} <= set(known_scorers())
