"""``toolformer ask``: one session from the command line, shown live, then the answer."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import typer
from typer.testing import CliRunner

from async_toolformer.streams.cli.ask import ask, tool_names

from .conftest import Stack

pytestmark = pytest.mark.connected


async def test_ask_shows_calls_then_answer_and_timings(stack: Stack) -> None:
    app = typer.Typer()
    app.command()(ask)
    env = {"KAFKA_BOOTSTRAP_SERVERS": stack.settings.kafka_bootstrap_servers or "",
           "TOOLFORMER_TOPIC_PREFIX": stack.settings.topic_prefix}
    prompt = f"cli {uuid.uuid4().hex[:8]}"
    result = await asyncio.to_thread(
        CliRunner().invoke, app,
        [prompt, "--model", "two_turns", "--tools", "sleep", "--tools", "echo"], env=env)

    assert result.exit_code == 0, result.output
    assert result.output.count("→ sleep") == 4
    assert "All done: 42." in result.output
    assert "speedup" in result.output


def test_tool_names_from_modules_and_names() -> None:
    names = tool_names(["tests.pipeline.tools_for_tests", "echo", "nap"])
    assert names[:2] == ["flaky", "unserialisable"]
    assert names.count("nap") == 1
    assert names[-1] == "echo"
