"""``toolformer limits check`` and ``show`` through typer's runner."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from redis.asyncio import Redis
from typer.testing import CliRunner

from async_toolformer.streams.cli._runtime import console
from async_toolformer.streams.cli.limits import limits_app
from async_toolformer.streams.redis.ratelimit import CallQuota, RateLimiter, load_limits

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as in a wide terminal, so cells are not wrapped."""
    monkeypatch.setattr(console, "width", 200)

FILE = """
namespace = "{namespace}"
[[limits]]
name = "search-rps"
scope = "tool"
match = "*"
kind = "token_bucket"
rate = 10
burst = 5

[[limits]]
name = "pool"
scope = "global"
kind = "concurrency"
max_in_flight = 4
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "limits.toml"
    path.write_text(text)
    return path


def test_check_prints_the_limits(tmp_path: Path) -> None:
    result = runner.invoke(limits_app, ["check", str(write(tmp_path, FILE.format(
        namespace="tf:limits")))])
    assert result.exit_code == 0, result.output
    assert "search-rps" in result.output
    assert "4 in flight" in result.output


def test_check_fails_with_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, FILE.format(namespace="x").replace("rate = 10", "rate = 0"))
    result = runner.invoke(limits_app, ["check", str(path)])
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert line.startswith("error: ")
    assert "search-rps" in line
    assert "rate (line 8)" in line


@pytest.mark.connected
def test_show_reads_state_from_redis(tmp_path: Path, redis_url: str,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    namespace = f"test-rl-{uuid.uuid4().hex[:12]}"
    path = write(tmp_path, FILE.format(namespace=namespace))

    async def use_some() -> None:
        client = Redis.from_url(redis_url)
        async with RateLimiter(load_limits(path), client) as limiter:
            for _ in range(3):
                async with limiter.admit(CallQuota(tool="search")):
                    pass
        await client.aclose()

    async def drop() -> None:
        client = Redis.from_url(redis_url)
        keys = [key async for key in client.scan_iter(match=f"{{{namespace}}}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()

    asyncio.run(use_some())
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("TOOLFORMER_LIMITS_FILE", str(path))
    try:
        result = runner.invoke(limits_app, ["show"])
    finally:
        asyncio.run(drop())
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.output.splitlines()
            if line.count("│") > 3}
    assert "search" in rows["search-rps"]
    assert "4 calls" in rows["pool"]


def test_show_without_redis_fails_with_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, FILE.format(namespace="x"))
    result = runner.invoke(limits_app, ["show", "--file", str(path),
                                        "--redis-url", "redis://127.0.0.1:1/0"])
    assert result.exit_code == 1
    assert "could not read the limits from Redis" in result.output
