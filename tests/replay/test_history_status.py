"""``history`` rebuilds a session's timeline from the log; ``status`` describes the group."""

from __future__ import annotations

import asyncio

import orjson
import pytest
import typer
from typer.testing import CliRunner

from async_toolformer.schemas import ToolCallRequested
from async_toolformer.streams.cli import replay as commands
from async_toolformer.streams.cli._runtime import console
from async_toolformer.streams.ops.group_status import group_status
from async_toolformer.streams.ops.session_reader import read_session
from tests.pipeline.conftest import Pipeline, PipelineFactory

pytestmark = pytest.mark.connected

app = typer.Typer()
app.command()(commands.history)
app.command()(commands.status)
app.command()(commands.replay)
runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console, "width", 220)


def _naps(session: str, ids: range, ms: int) -> list[ToolCallRequested]:
    return [ToolCallRequested(call_id=f"{session}-{i}", session_id=session, tool="nap",
                              arguments={"ms": ms}) for i in ids]


async def _invoke(pipeline: Pipeline, *args: str) -> tuple[int, str]:
    env = {"KAFKA_BOOTSTRAP_SERVERS": pipeline.settings.kafka_bootstrap_servers or "",
           "TOOLFORMER_TOPIC_PREFIX": pipeline.settings.topic_prefix,
           "TOOLFORMER_GROUP_ID": pipeline.settings.group_id,
           "REDIS_URL": pipeline.settings.redis_url or "",
           "TOOLFORMER_LEDGER_NAMESPACE": pipeline.settings.ledger_namespace,
           "TOOLFORMER_TOOLS": '["tests.pipeline.tools_for_tests"]'}
    # typer runs its own event loop: give it a thread, so the worker's loop keeps going
    result = await asyncio.to_thread(runner.invoke, app, list(args), env=env)
    return result.exit_code, result.output


async def test_history_shows_two_waves_of_parallel_calls(
        pipeline_factory: PipelineFactory) -> None:
    pipeline = await pipeline_factory()
    await pipeline.client.run(_naps("hist", range(3), 400))
    await pipeline.client.run(_naps("hist", range(3, 4), 50))
    await pipeline.client.run(_naps("other", range(2), 10))

    timeline = await read_session(pipeline.settings.kafka_bootstrap_servers or "",
                                  pipeline.topics, "hist")

    assert [s.call_id for s in timeline.spans][-1] == "hist-3"
    assert {s.call_id for s in timeline.spans} == {f"hist-{i}" for i in range(4)}
    assert timeline.max_parallel == 3
    assert timeline.waves == 2
    assert all(s.status == "ok" and s.attempts == 1 and s.worker_id == pipeline.settings.worker_id
               for s in timeline.spans)

    code, output = await _invoke(pipeline, "history", "hist")
    assert code == 0, output
    assert "at most 3 at once" in output
    assert "hist-3" in output
    code, output = await _invoke(pipeline, "history", "hist", "--json")
    assert orjson.loads(output)["waves"] == 2
    code, output = await _invoke(pipeline, "history", "nobody")
    assert code == 1
    assert "no calls or results" in output


async def test_status_shows_the_member_partitions_and_lag(
        pipeline_factory: PipelineFactory) -> None:
    pipeline = await pipeline_factory()
    sessions = [f"st{i}" for i in range(12)]
    await pipeline.client.run([c for s in sessions for c in _naps(s, range(2), 1)])
    await asyncio.sleep(1.0)  # offsets commit every 0.2 s

    found = await group_status(pipeline.settings.kafka_bootstrap_servers or "",
                               pipeline.settings.group_id, pipeline.topics)

    assert found.state == "Stable"
    assert len(found.members) == 1
    assert [p.partition for p in found.partitions] == list(range(pipeline.settings.partitions))
    assert sum(p.committed or 0 for p in found.partitions) == 24  # every call committed
    assert found.total_lag == 0
    for p in found.partitions:  # owners: assigned, or guessed from the latest result
        assert p.owner in (found.members[0].member_id, pipeline.settings.worker_id)

    code, output = await _invoke(pipeline, "status", "--json")
    assert code == 0, output
    assert orjson.loads(output)["total_lag"] == 0
    code, output = await _invoke(pipeline, "status", "--metrics", "http://127.0.0.1:1/metrics")
    assert code == 0, output
    assert "unreachable" in output


async def test_replay_command_prints_a_summary_and_json(
        pipeline_factory: PipelineFactory) -> None:
    pipeline = await pipeline_factory()
    await pipeline.client.run(_naps("cli", range(5), 1))

    code, output = await _invoke(pipeline, "replay", "--json", "--timeout", "60")

    assert code == 0, output
    report = orjson.loads(output)
    assert (report["calls"], report["identical"], report["reexecuted"]) == (5, 5, 0)
    assert len(report["diff"]) == 5
    code, output = await _invoke(pipeline, "replay", "--from-offset", "5", "--to-offset", "2")
    assert code == 1
    assert "swap them" in output
