"""``publish``, ``results`` and ``cancel``: talk to running workers through the topics."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.markup import escape
from rich.progress import Progress

from async_toolformer.schemas import (
    InvalidEventError,
    ToolCallRequested,
    UndecodableError,
    decode_as,
    loads,
)
from async_toolformer.streams.cli._runtime import console, fail, run
from async_toolformer.streams.cli.render import result_json, results_table
from async_toolformer.streams.client import ToolformerClient
from async_toolformer.streams.kafka.security import KafkaSecurity
from async_toolformer.streams.worker.settings import Settings

SessionOption = Annotated[str | None, typer.Option("--session", "-s", help="Session id.")]
JsonFlag = Annotated[bool, typer.Option("--json", help="One JSON object per line, for scripts.")]


def publish(
    source: Annotated[str | None, typer.Argument(
        help="JSON or JSONL file of calls, or - for stdin.")] = None,
    tool: Annotated[str | None, typer.Option(help="Publish one call of this tool.")] = None,
    args: Annotated[str, typer.Option(help="Its arguments as a JSON object.")] = "{}",
    session: SessionOption = None,
    wait: Annotated[bool, typer.Option(help="Wait for the results and show them.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait with --wait.")] = 60.0,
    as_json: JsonFlag = False,
) -> None:
    """Publish tool calls: from a file, from stdin, or one with --tool and --args."""
    session_id = session or f"cli-{uuid.uuid4().hex[:12]}"
    if tool is not None:
        calls = [_call({"tool": tool, "arguments": _json_object(args)}, session_id)]
    elif source is not None:
        calls = list(_read_calls(source, session_id))
    else:
        fail("give a FILE (or - for stdin) of calls, or --tool NAME [--args JSON]")
    if not calls:
        fail(f"{source} holds no calls")
    settings = Settings()
    bootstrap, _ = settings.require_services()

    async def main() -> None:
        async with ToolformerClient(bootstrap, topic_prefix=settings.topic_prefix,
                                    security=KafkaSecurity.from_settings(settings)) as client:
            if wait:
                results = await client.run(calls, timeout_s=timeout)
                _show(results, as_json)
                return
            with Progress(console=console, transient=True, disable=len(calls) < 500) as bar:
                task = bar.add_task("publishing", total=len(calls))
                for start in range(0, len(calls), 1000):
                    chunk = calls[start:start + 1000]
                    await client.submit(chunk)
                    bar.advance(task, len(chunk))
        sessions = sorted({c.session_id for c in calls})
        shown = escape(", ".join(sessions[:5]))
        console.print(f"published {len(calls)} calls to {escape(settings.topic_prefix)}calls "
                      f"(sessions: {shown}{' ...' if len(sessions) > 5 else ''})")

    run(main())


def results(
    session: Annotated[str, typer.Option("--session", "-s", help="Session id.")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new ones.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Show a session's results (deduplicated by call_id)."""
    settings = Settings()
    bootstrap, _ = settings.require_services()

    async def main() -> None:
        async with ToolformerClient(bootstrap, topic_prefix=settings.topic_prefix,
                                    security=KafkaSecurity.from_settings(settings)) as client:
            stream = client.follow(session, follow=follow)
            if follow or as_json:
                async for result in stream:
                    if as_json:
                        print(result_json(result), flush=True)
                    else:
                        console.print(results_table([result]))
                return
            found = [result async for result in stream]
            if not found:
                fail(f"no results for session {session!r} on {settings.topic_prefix}results")
            console.print(results_table(found, title=f"session {session}"))

    run(main())


def cancel(
    session: Annotated[str, typer.Option("--session", "-s", help="Session id.")],
    branch: Annotated[str | None, typer.Option("--branch", "-b", help="Only this branch.")] = None,
    reason: Annotated[str, typer.Option(help="Why; shown in each cancelled result.")] = (
        "cancelled from the command line"),
) -> None:
    """Cancel a session's running and queued calls, or one branch's."""
    settings = Settings()
    bootstrap, _ = settings.require_services()

    async def main() -> None:
        async with ToolformerClient(bootstrap, topic_prefix=settings.topic_prefix,
                                    security=KafkaSecurity.from_settings(settings)) as client:
            if branch is None:
                await client.cancel_session(session, reason)
            else:
                await client.cancel_branch(session, branch, reason)
        what = f"branch {branch!r} of session {session!r}" if branch else f"session {session!r}"
        console.print(f"cancelled {what}")

    run(main())


def _show(found: list[Any], as_json: bool) -> None:
    if as_json:
        for result in found:
            print(result_json(result))
    else:
        console.print(results_table(found))


def _read_calls(source: str, session_id: str) -> Iterator[ToolCallRequested]:
    text = sys.stdin.read() if source == "-" else _read_file(source)
    stripped = text.lstrip()
    if stripped.startswith("["):
        items = _loads(text, source)
        for number, item in enumerate(items, 1):
            yield _call(item, session_id, where=f"{source} item {number}")
        return
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            yield _call(_loads(line, f"{source}:{number}"), session_id,
                        where=f"{source}:{number}")


def _read_file(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}")


def _loads(text: str, where: str) -> Any:
    try:
        return loads(text.encode())
    except UndecodableError as exc:
        fail(f"{where}: {exc}")


def _call(data: Any, session_id: str, where: str = "--args") -> ToolCallRequested:
    if not isinstance(data, dict):
        fail(f"{where}: a call is a JSON object with at least a 'tool'")
    data = {"call_id": f"call-{uuid.uuid4().hex[:12]}", "session_id": session_id, **data}
    try:
        return decode_as(ToolCallRequested, orjson.dumps(data))
    except InvalidEventError as exc:
        fail(f"{where}: not a valid call: {exc}")


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        fail(f"--args is not JSON: {exc}")
    if not isinstance(value, dict):
        fail("--args must be a JSON object, e.g. '{\"ms\": 200}'")
    return value
