"""``toolformer console``: the live web console, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from async_toolformer.streams.cli._runtime import console as out
from async_toolformer.streams.cli._runtime import run, stop_on_signals
from async_toolformer.streams.worker.settings import Settings

__all__ = ["console"]


def console(
    host: Annotated[str, typer.Option(
        envvar="TOOLFORMER_CONSOLE_HOST",
        help="Address to serve on; anything but loopback shows the page to your network."),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(
        envvar="TOOLFORMER_CONSOLE_PORT", min=0, max=65535, help="Port (0: any free one).")
    ] = 8765,
    from_offset: Annotated[int | None, typer.Option(
        "--from-offset", min=0,
        help="Read every partition from this offset (0: all history); default: the end.")
    ] = None,
    group: Annotated[str | None, typer.Option(
        help="Consumer group of the workers (default: TOOLFORMER_GROUP_ID).")] = None,
    metrics: Annotated[list[str] | None, typer.Option(
        "--metrics", "-m", help="A worker's /metrics URL, for calls in flight (repeatable).")
    ] = None,
    limits_file: Annotated[Path | None, typer.Option(
        "--limits-file", envvar="TOOLFORMER_LIMITS_FILE",
        help="The workers' limits file, to show each limit's state in Redis.")] = None,
) -> None:
    """Serve a live web page of sessions, calls, the worker group, rate limits and dead letters."""
    from async_toolformer.streams.ops.console import (  # aiohttp: only for this command
        ConsoleOptions,
        ConsoleServer,
        ConsoleService,
    )

    async def main() -> None:
        # Inside run(): a missing setting or a bad limits file is one line, not a traceback.
        options = ConsoleOptions(start_offset=from_offset, metrics_urls=tuple(metrics or ()),
                                 limits_file=limits_file, group_id=group)
        server = ConsoleServer(ConsoleService(Settings(), options), host, port)
        stop = asyncio.Event()
        stop_on_signals(stop)
        await server.start()
        out.print(f"console on [bold]{escape(server.url)}[/] (read-only; Ctrl-C stops it)")
        try:
            await stop.wait()
        finally:
            await server.stop()

    run(main())
