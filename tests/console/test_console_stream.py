"""The console against a real broker, Redis and worker: what its event stream carries."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from async_toolformer.schemas import ToolCallRequested

from ..pipeline.conftest import PipelineFactory
from .harness import (
    dead_letters,
    last,
    latest_sessions,
    read_events,
    running_console,
    write_limits,
)

pytestmark = pytest.mark.connected


async def test_the_stream_shows_calls_a_cancelled_branch_the_group_limits_and_dead_letters(
        pipeline_factory: PipelineFactory, tmp_path: Path, unique_prefix: str) -> None:
    limits = write_limits(tmp_path, f"{unique_prefix}limits")
    pipeline = await pipeline_factory(limits_file=limits)
    calls = [ToolCallRequested(call_id="quick", session_id="race", branch_id="fast",
                               tool="sleep", arguments={"ms": 50}),
             *(ToolCallRequested(call_id=f"slow-{i}", session_id="race", branch_id="slow",
                                 tool="sleep", arguments={"ms": 20_000}) for i in range(2)),
             ToolCallRequested(call_id="ghost", session_id="race", tool="no_such_tool")]

    async with running_console(pipeline.settings, limits_file=limits) as console:
        async def drive() -> None:
            await pipeline.client.submit(calls)
            await asyncio.sleep(1.0)
            await pipeline.client.cancel_branch("race", "slow", reason="fast branch won")

        def done(messages: list[tuple[str, Any]]) -> bool:
            race = latest_sessions(messages).get("race")
            group, limit = last(messages, "group"), last(messages, "limits")
            return (race is not None
                    and sum(c["status"] == "cancelled" for c in race["calls"]) == 2
                    and len(dead_letters(messages)) == 1
                    and bool(group and group.get("members"))
                    and bool(limit and limit.get("limits")))

        driver = asyncio.create_task(drive())
        _, messages = await read_events(console.url, done, timeout_s=60)
        await driver

    race = latest_sessions(messages)["race"]
    calls_by_id = {c["call_id"]: c for c in race["calls"]}
    assert calls_by_id["quick"]["status"] == "ok"
    for call_id in ("slow-0", "slow-1"):
        assert calls_by_id[call_id]["status"] == "cancelled"
        assert calls_by_id[call_id]["reason"] == "fast branch won"
        assert calls_by_id[call_id]["worker_id"] == pipeline.settings.worker_id
    assert any("branch slow cancelled: fast branch won" in n for n in race["notes"])
    # The slow calls ran long enough for the ledger's lease to show them running.
    assert any(c["status"] == "running" for e, d in messages
               if e == "session" and d["session_id"] == "race" for c in d["calls"])

    [letter] = dead_letters(messages)
    assert letter["reason"] == "unknown_tool"
    assert letter["call_id"] == "ghost"
    assert "no_such_tool" in letter["error"]

    group = last(messages, "group")
    assert group["group_id"] == pipeline.settings.group_id
    assert [p["partition"] for p in group["partitions"]] == [0, 1, 2, 3]
    assert [s["limit"] for s in last(messages, "limits")["limits"]] == ["sleep-rate"]


async def test_the_server_is_read_only_and_answers_on_localhost_only(
        pipeline_factory: PipelineFactory) -> None:
    pipeline = await pipeline_factory()
    async with running_console(pipeline.settings) as console, aiohttp.ClientSession() as http:
        async with http.get(console.url) as page:
            assert page.status == 200
            assert "script-src 'sha256-" in page.headers["Content-Security-Policy"]
            assert "default-src 'none'" in page.headers["Content-Security-Policy"]
            assert "<title>toolformer console</title>" in await page.text()
        async with http.post(console.url + "events") as posted:
            assert posted.status == 405
        async with http.get(console.url + "settings") as missing:
            assert missing.status == 404
        async with http.get(console.url, headers={"Host": "evil.example:8765"}) as rebound:
            assert rebound.status == 421  # DNS rebinding: a foreign name is refused
