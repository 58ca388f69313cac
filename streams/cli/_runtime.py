"""Running a command's coroutine: one clear line on error, a traceback only with --debug."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Coroutine
from typing import Any, NoReturn, TypeVar

import typer
from aiokafka.errors import KafkaError
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from async_toolformer.schemas.exceptions import ToolformerError
from async_toolformer.streams.worker.logs import log_handler
from async_toolformer.streams.worker.secret_values import redact_url

T = TypeVar("T")

console = Console()
errors = Console(stderr=True)
_debug = {"on": False}

_SECRET_NAME = re.compile(r"PASSWORD|API_KEY|SECRET|TOKEN", re.IGNORECASE)

# Ours (one root), bad settings, and what the OS and the Kafka client raise when unreachable.
EXPECTED_ERRORS = (ToolformerError, ValidationError, OSError, KafkaError)


def set_debug(on: bool) -> None:
    """``--debug``: tracebacks and DEBUG logs; else ``TOOLFORMER_LOG_LEVEL`` (WARNING)."""
    _debug["on"] = on
    level = "DEBUG" if on else os.environ.get("TOOLFORMER_LOG_LEVEL", "WARNING").upper()
    try:  # TOOLFORMER_LOG_FORMAT: text (default) or json, one object a line
        handler = log_handler(os.environ.get("TOOLFORMER_LOG_FORMAT", "text"))
    except ValueError as exc:
        fail(str(exc))
    logging.basicConfig(level=level if level in logging.getLevelNamesMapping() else "WARNING",
                        handlers=[handler])
    if not on:  # its connection errors reach the user as one clear line instead
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


def fail(message: str, code: int = 1) -> NoReturn:
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)


def debugging() -> bool:
    """Whether ``--debug`` asked for tracebacks."""
    return _debug["on"]


def one_line(exc: BaseException) -> str:
    """An expected error as the one line the command line prints."""
    return _one_line(exc)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion; expected errors become one line and exit code 1."""
    try:
        return asyncio.run(coro)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    except EXPECTED_ERRORS as exc:
        if _debug["on"]:
            raise
        fail(_one_line(exc))


def stop_on_signals(stop: asyncio.Event, *, deadline_s: float | None = None) -> None:
    """Set ``stop`` on Ctrl-C and SIGTERM, so services shut down in order.

    With ``deadline_s``, the process exits anyway that long after the first
    signal, and at once on a second: a shutdown that waits on a broker that is
    gone (the final commit, the producer's flush) would otherwise never end. The
    timer is a thread, so it fires even if the event loop is stuck.
    """
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stop.is_set():
            _exit_now("a second signal")
        stop.set()
        if deadline_s is not None:
            timer = threading.Timer(deadline_s, _exit_now, args=(f"{deadline_s:g} s",))
            timer.daemon = True
            timer.start()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)


def _exit_now(why: str) -> None:
    """Leave without the rest of the shutdown; what was not committed is redelivered."""
    sys.stderr.write(f"shutdown did not finish ({why}): exiting now; calls whose offsets "
                     "were not committed are redelivered to another worker\n")
    sys.stderr.flush()
    os._exit(1)


def settings_error(exc: ValidationError) -> str:
    """Which environment variable holds a bad value, and why, in one line."""
    parts = []
    for error in exc.errors(include_url=False)[:3]:
        field = str(error["loc"][0]) if error["loc"] else "settings"
        name = field if field.isupper() else {  # an alias is the variable's own name
            "kafka_bootstrap_servers": "KAFKA_BOOTSTRAP_SERVERS",
            "redis_url": "REDIS_URL"}.get(field, f"TOOLFORMER_{field.upper()}")
        if not error["loc"] or _SECRET_NAME.search(name):  # never echo a secret
            parts.append(f"{name}: {error['msg']}")
            continue
        shown = error.get("input")
        if name.endswith("REDIS_URL") and isinstance(shown, str):
            shown = redact_url(shown)
        parts.append(f"{name}: {error['msg']} (got {shown!r})")
    return "invalid setting " + "; ".join(parts)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if isinstance(exc, OSError) else text
