"""The CLI prints what producers wrote as text: markup in a call_id or an error is shown, not run.

A ``call_id`` of ``[/]`` used to crash ``toolformer results`` (rich read it as a
closing tag), and ``[link=...]`` in an error message became a link.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from datetime import UTC, datetime

import pytest
from rich.console import Console

from async_toolformer.schemas import CallStatus, ToolCallCompleted, encode
from async_toolformer.schemas.calls import CallTimings, ToolError
from async_toolformer.streams.cli.render import results_table
from async_toolformer.streams.kafka.publisher import KafkaPublisher
from async_toolformer.streams.kafka.topics import TopicCatalogue, ensure_topics

LINK = "[link=http://x]y[/link]"


def _result(call_id: str, session_id: str, *, message: str | None = None
            ) -> ToolCallCompleted:
    now = datetime.now(UTC)
    return ToolCallCompleted(
        call_id=call_id, session_id=session_id, tool="[bold]echo", worker_id="[red]w",
        status=CallStatus.OK if message is None else CallStatus.ERROR, output={"k": "[/]"},
        error=None if message is None else ToolError(type="E", message=message),
        timings=CallTimings(requested_at=now, received_at=now, finished_at=now,
                            queue_ms=0, run_ms=1))


def test_the_results_table_shows_markup_as_text() -> None:
    console = Console(record=True, width=200, color_system=None)
    console.print(results_table([_result("[/]", "[s]"), _result("c2", "[s]", message=LINK)],
                                title="session [/]"))
    text = console.export_text()
    assert "[/]" in text
    assert LINK in text
    assert "[bold]echo" in text
    assert "session [/]" in text


@pytest.mark.connected
async def test_toolformer_results_prints_a_markup_call_id_and_error(kafka_bootstrap: str
                                                                     ) -> None:
    topics = TopicCatalogue(f"esc{uuid.uuid4().hex[:8]}.")
    await ensure_topics(kafka_bootstrap, topics, partitions=1)
    session = "esc-session"
    async with KafkaPublisher(kafka_bootstrap) as publisher:
        for result in (_result("[/]", session), _result("c2", session, message=LINK)):
            assert await publisher.publish(topics.results, session.encode(), encode(result))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "async_toolformer.streams.cli", "results", "--session", session,
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
             "TOOLFORMER_TOPIC_PREFIX": topics.prefix, "COLUMNS": "200"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode == 0, err.decode()
    shown = out.decode()
    assert "[/]" in shown
    assert LINK in shown
    assert "\x1b]8;" not in shown  # no terminal hyperlink
