"""``fake_llm``: serves until SIGTERM, and refuses a broken script with exit code 2."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
import typer
from typer.testing import CliRunner

from async_toolformer.streams.cli.fakellm import fake_llm

RUN = "import typer; from async_toolformer.streams.cli.fakellm import fake_llm; typer.run(fake_llm)"


def app() -> typer.Typer:
    cli = typer.Typer()
    cli.command()(fake_llm)
    return cli


def test_broken_script_exits_2_with_message(tmp_path: Path) -> None:
    script = tmp_path / "s.json"
    script.write_text('{"turns": []}')
    result = CliRunner().invoke(app(), ["--script", str(script)])
    assert result.exit_code == 2
    assert "does not fit the script format" in result.output


async def test_serves_until_sigterm(tmp_path: Path) -> None:
    script = tmp_path / "s.json"
    script.write_text('{"turns": [{"text": "hello from the script"}]}')
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", RUN, "--script", str(script), "--port", "0",
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        base_url = line.split("OpenAI base_url ")[1].split(",")[0]
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{base_url}/chat/completions", json=body) as resp,
        ):
            answer = await resp.json()
        assert answer["choices"][0]["message"]["content"] == "hello from the script"
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 20) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
