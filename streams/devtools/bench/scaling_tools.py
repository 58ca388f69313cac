"""The tool ``bench scaling`` runs: an I/O wait that counts its executions outside the ledger.

Each execution appends its ``tag`` and the time to a file of its own process in
``TOOLFORMER_BENCH_EXECUTIONS_DIR`` (one ``O_APPEND`` write, so nothing is lost
when the worker is stopped), so the benchmark can tell a call run twice from
one answered twice. Importing this module registers the tool.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Annotated

from pydantic import Field

from async_toolformer.agents.tools import tool

__all__ = ["EXECUTIONS_DIR_ENV", "count_executions", "executions_by_process", "io_wait"]

EXECUTIONS_DIR_ENV = "TOOLFORMER_BENCH_EXECUTIONS_DIR"

_logs: dict[str, int] = {}  # the open log of this process, by folder


@tool
async def io_wait(tag: Annotated[str, Field(min_length=1, max_length=200)],
                  ms: Annotated[int, Field(ge=0, le=10_000)] = 100) -> dict[str, int]:
    """Wait ``ms`` milliseconds like a remote call; not idempotent, so never run twice."""
    _note(tag)
    await asyncio.sleep(ms / 1000)
    return {"waited_ms": ms}


def _note(tag: str) -> None:
    folder = os.environ.get(EXECUTIONS_DIR_ENV)
    if not folder:
        return
    log = _logs.get(folder)
    if log is None:
        log = _logs[folder] = os.open(Path(folder) / f"{os.getpid()}.log",
                                      os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.write(log, f"{tag} {time.time():.3f}\n".encode())


def count_executions(folder: Path) -> dict[str, int]:
    """How often each tag ran, over every worker process that wrote to ``folder``."""
    counts: dict[str, int] = {}
    for tags in executions_by_process(folder).values():
        for tag in tags:
            counts[tag] = counts.get(tag, 0) + 1
    return counts


def executions_by_process(folder: Path) -> dict[str, list[str]]:
    """The tags each worker process ran (by the name of its log), in order."""
    return {log.stem: [line.split(b" ", 1)[0].decode() for line in log.read_bytes().splitlines()]
            for log in folder.glob("*.log")}
