"""``toolformer fake-llm --script FILE``: serve the scripted model until Ctrl-C or SIGTERM.

Point any OpenAI client at ``http://HOST:PORT/v1`` and any Anthropic client at
``http://HOST:PORT``; the script decides every answer (see
``async_toolformer.streams.devtools.fakellm.script``).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from async_toolformer.streams.devtools.fakellm import Script

__all__ = ["fake_llm"]


def fake_llm(
    script: Annotated[
        Path,
        typer.Option("--script", "-s", help="JSON script of the model's turns.", dir_okay=False),
    ],
    port: Annotated[int, typer.Option(help="Port to listen on (0 picks a free one).")] = 8089,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
) -> None:
    """Serve a scripted OpenAI- and Anthropic-compatible model over HTTP."""
    # The dev tools (aiohttp) load only when this command runs: a worker has no need of them.
    from async_toolformer.streams.devtools.fakellm import ScriptError, load_script

    try:
        loaded = load_script(script)
    except ScriptError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    try:
        asyncio.run(_serve_until_signalled(loaded, host, port))
    except OSError as exc:
        typer.echo(f"error: cannot listen on {host}:{port}: {exc}; try another --port", err=True)
        raise typer.Exit(code=1) from exc


async def _serve_until_signalled(script: Script, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    from async_toolformer.streams.devtools.fakellm import FakeLLMServer

    try:
        async with FakeLLMServer(script, host=host, port=port) as server:
            names = ", ".join(sorted(script.conversations))
            typer.echo(
                f"scripted model serving {names}: OpenAI base_url {server.base_url}, "
                f"Anthropic base_url {server.root_url} (Ctrl-C to stop)"
            )
            await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(signum)
