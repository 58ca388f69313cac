"""``toolformer ask "PROMPT"``: run one LLM session on the workers and watch it live.

Each tool call is shown the moment it is dispatched and again when its result
arrives; then the answer and where the time went. The workers need the model's
settings (``TOOLFORMER_LLM_BASE_URL``, ``OPENAI_API_KEY`` ...): see
``async_toolformer.streams.worker.llm_settings``.
"""

from __future__ import annotations

import importlib
from typing import Annotated, Any

import orjson
import typer
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from async_toolformer.agents.tools import default_registry, load_tools
from async_toolformer.schemas import (
    BranchDecision,
    LLMTurnCompleted,
    LLMTurnStarted,
    SessionCompleted,
    SessionEvent,
    SessionFailed,
    ToolCallDispatched,
    ToolCallProposed,
    ToolResultReceived,
)
from async_toolformer.streams.cli._runtime import console, fail, run
from async_toolformer.streams.client import SessionClient, SessionFailedError
from async_toolformer.streams.kafka.security import KafkaSecurity
from async_toolformer.streams.worker.settings import Settings

__all__ = ["ask", "show_event", "timings_table", "tool_names"]


def ask(
    prompt: Annotated[str, typer.Argument(help="What to ask the model.")],
    model: Annotated[str | None, typer.Option(help="Model (default: the workers' setting).")
                     ] = None,
    tools: Annotated[list[str] | None, typer.Option(
        "--tools", "-t", help="A tools module (pkg.mod: all its tools) or a tool name; repeat.")
    ] = None,
    provider: Annotated[str | None, typer.Option(help="openai or anthropic.")] = None,
    stream: Annotated[bool, typer.Option(help="Dispatch calls while the model streams.")
                      ] = True,
    max_turns: Annotated[int, typer.Option(min=1, help="Model turns at most.")] = 8,
    plan: Annotated[bool, typer.Option(help="Plan mode: the model writes its calls as a plan "
                                            "that runs as a graph (docs/plans.md).")] = False,
    deadline: Annotated[float | None, typer.Option(help="Session deadline in seconds.")] = None,
    timeout: Annotated[float, typer.Option(help="Give up waiting after this many seconds.")
                       ] = 300.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print SessionCompleted as JSON.")
                       ] = False,
) -> None:
    """Run one session: the model asks for tools, they run in parallel, the answer comes back."""
    settings = Settings()
    bootstrap, _ = settings.require_services()
    names = tool_names(tools or [])
    options: dict[str, Any] = {"model": model, "provider": provider, "streaming": stream,
                               "max_turns": max_turns, "session_deadline_s": deadline,
                               "plan": plan}

    async def main() -> SessionCompleted:
        async with SessionClient(bootstrap, topic_prefix=settings.topic_prefix,
                                 security=KafkaSecurity.from_settings(settings)) as client:
            done: SessionCompleted | None = None
            async for event in client.stream_session(prompt, tools=names, options=options,
                                                     timeout_s=timeout):
                if not as_json:
                    show_event(event)
                if isinstance(event, SessionFailed):
                    raise SessionFailedError(event)
                if isinstance(event, SessionCompleted):
                    done = event
            assert done is not None
            return done

    done = run(main())
    if as_json:
        console.print_json(done.model_dump_json())
        return
    console.print(Panel(Text(done.answer or "(no answer)"),
                        title=escape(f"answer ({done.stop_reason})"), border_style="green"))
    console.print(timings_table(done))


def tool_names(items: list[str]) -> list[str]:
    """Tool names from modules (``pkg.mod``) and plain names, in order, without repeats."""
    modules = [item for item in items if "." in item]
    try:
        load_tools(modules)
    except Exception as exc:  # an ImportError inside a user's module, say
        fail(str(exc))
    names: list[str] = []
    for item in items:
        if "." in item:
            module = importlib.import_module(item)
            names += [spec.name for spec in default_registry
                      if getattr(spec.fn, "__module__", None) == module.__name__]
        else:
            names.append(item)
    return list(dict.fromkeys(names))


def show_event(event: SessionEvent) -> None:
    """One line per journal event worth seeing live."""
    match event:
        case LLMTurnStarted(turn=turn, attempt=attempt):
            again = f" (attempt {attempt})" if attempt > 1 else ""
            console.print(f"[dim]turn {turn + 1}: the model is thinking{again}[/]")
        case ToolCallProposed(error=error, tool=tool) if error is not None:
            console.print(f"  [red]✗[/] {escape(tool)}: {escape(str(error))}")
        case ToolCallDispatched(tool=tool, call_id=call_id):
            console.print(f"  [cyan]→[/] {escape(tool)} [dim]{escape(call_id)}[/]")
        case ToolResultReceived(result=result):
            style = "green" if result.ok else "yellow"
            detail = _short(result.output if result.ok else result.error)
            console.print(f"  [{style}]←[/] {escape(result.tool)} {result.status.value} "
                          f"{result.timings.run_ms:.0f} ms [dim]{escape(detail)}[/]")
        case BranchDecision(decision=decision, reason=reason, call_id=call_id):
            console.print(f"  [magenta]◆[/] {escape(call_id)} {escape(str(decision))}: "
                          f"{escape(reason)}")
        case LLMTurnCompleted(llm_ms=llm_ms, tool_calls=calls):
            console.print(f"[dim]  model turn done in {llm_ms:.0f} ms, {len(calls)} calls[/]")
        case SessionFailed(reason=reason, error=error):
            console.print(f"[bold red]session failed ({escape(str(reason))}):[/] "
                          f"{escape(str(error))}")
        case _:
            pass


def timings_table(done: SessionCompleted) -> Table:
    """Where a session's time went."""
    t = done.timings
    table = Table(title=f"{done.turns} turns, {done.calls} tool calls", show_header=False)
    table.add_column("what")
    table.add_column("ms", justify="right")
    table.add_row("wall time", f"{t.wall_ms:.0f}")
    table.add_row("model time", f"{t.llm_ms:.0f}")
    table.add_row("waiting for tools", f"{t.tool_ms:.0f}")
    table.add_row("tools one after another", f"{t.sequential_tool_ms:.0f}")
    table.add_row("saved by cancellations (at most)", f"{t.saved_tool_ms:.0f}")
    table.add_row("speedup", f"[bold green]{t.speedup:.2f}x[/]")
    table.add_row("tokens in / out", f"{done.usage.prompt_tokens} / "
                  f"{done.usage.completion_tokens}")
    return table


def _short(value: object, limit: int = 60) -> str:
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    text = orjson.dumps(value, default=str).decode()
    return text if len(text) <= limit else text[: limit - 1] + "…"
