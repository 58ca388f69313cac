"""The command line: clear one-line errors, and publish/results/cancel against a worker."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from async_toolformer.streams.cli import app, main

from ..pipeline.conftest import PipelineFactory

runner = CliRunner()


def test_worker_without_a_broker_says_how_to_get_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    result = runner.invoke(app, ["worker"])
    assert result.exit_code == 1
    assert "KAFKA_BOOTSTRAP_SERVERS is not set" in result.output
    assert "toolformer dev" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["publish", "--tool", "echo", "--args", "[1]"], "--args must be a JSON object"),
    (["publish", "--tool", "echo", "--args", "{nope"], "--args is not JSON"),
    (["publish"], "give a FILE"),
    (["publish", "/no/such/file.jsonl"], "cannot read /no/such/file.jsonl"),
])
def test_bad_publish_input(args: list[str], message: str,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert message in result.output


def test_a_bad_line_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    calls = tmp_path / "calls.jsonl"
    calls.write_text('{"tool": "echo"}\n{"tool": 5}\n')
    result = runner.invoke(app, ["publish", str(calls)])
    assert result.exit_code == 1
    assert "calls.jsonl:2" in result.output


def test_unreachable_broker_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    result = runner.invoke(app, ["publish", "--tool", "echo"])
    assert result.exit_code == 1
    assert "cannot reach Kafka at 127.0.0.1:1" in result.output


def test_schemas_export_writes_one_file_per_event(tmp_path: Path) -> None:
    result = runner.invoke(app, ["schemas", "export", str(tmp_path)])
    assert result.exit_code == 0, result.output
    written = {p.name for p in tmp_path.iterdir()}
    assert "ToolCallRequested.schema.json" in written
    schema = json.loads((tmp_path / "ToolCallRequested.schema.json").read_text())
    assert schema["properties"]["tool"]["type"] == "string"


@pytest.mark.connected
async def test_publish_results_and_cancel_through_a_worker(
        pipeline_factory: PipelineFactory, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    pipe = await pipeline_factory()
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", pipe.settings.kafka_bootstrap_servers or "")
    monkeypatch.setenv("TOOLFORMER_TOPIC_PREFIX", pipe.settings.topic_prefix)
    calls = tmp_path / "calls.json"
    calls.write_text(json.dumps([{"call_id": "cli-1", "tool": "echo", "arguments": {"a": 1}},
                                 {"call_id": "cli-2", "tool": "sleep", "arguments": {"ms": 5}}]))

    # The CLI runs its own event loop, so it runs in a thread beside the worker's.
    published = await _invoke(["publish", str(calls), "--session", "cli-s", "--wait", "--json"])
    assert published.exit_code == 0, published.output
    lines = [json.loads(line) for line in published.output.splitlines() if line.startswith("{")]
    assert [(r["call_id"], r["status"]) for r in lines] == [("cli-1", "ok"), ("cli-2", "ok")]

    shown = await _invoke(["results", "--session", "cli-s", "--json"])
    assert {json.loads(line)["call_id"] for line in shown.output.splitlines()} == {
        "cli-1", "cli-2"}
    cancelled = await _invoke(["cancel", "--session", "cli-s", "--branch", "b"])
    assert "cancelled branch 'b'" in cancelled.output


async def _invoke(args: list[str]) -> Result:
    return await asyncio.to_thread(runner.invoke, app, args)


def test_a_bad_setting_names_its_variable(monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TOOLFORMER_PARTITIONS", "many")
    monkeypatch.setattr("sys.argv", ["toolformer", "worker"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    assert "TOOLFORMER_PARTITIONS" in capsys.readouterr().err
