"""The ``toolformer`` command line."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError
from rich.markup import escape

from async_toolformer.schemas.exceptions import ToolformerError
from async_toolformer.streams.cli import calls, demo, serve
from async_toolformer.streams.cli import replay as replay_cmd
from async_toolformer.streams.cli._runtime import (
    debugging,
    errors,
    one_line,
    set_debug,
    settings_error,
)
from async_toolformer.streams.cli.ask import ask
from async_toolformer.streams.cli.bench import bench_app
from async_toolformer.streams.cli.console import console as console_cmd
from async_toolformer.streams.cli.fakellm import fake_llm
from async_toolformer.streams.cli.limits import limits_app
from async_toolformer.streams.cli.policy import policy_app
from async_toolformer.streams.cli.schemas_cmd import schemas_app
from async_toolformer.streams.cli.speculation import speculation_app

app = typer.Typer(
    name="toolformer",
    help="Run LLM tool calls in parallel over Kafka.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _options(debug: Annotated[bool, typer.Option(
        "--debug", help="Log verbosely and show tracebacks.")] = False) -> None:
    set_debug(debug)


app.command()(serve.worker)
app.command()(serve.dev)
app.command()(demo.demo)
app.command()(calls.publish)
app.command()(calls.results)
app.command()(calls.cancel)
app.add_typer(schemas_app, name="schemas")
app.add_typer(bench_app, name="bench")
app.add_typer(limits_app, name="limits")
app.add_typer(policy_app, name="policy")
app.add_typer(speculation_app, name="speculation")
app.command("fake-llm")(fake_llm)
app.command()(ask)
app.command()(replay_cmd.replay)
app.command()(replay_cmd.history)
app.command()(replay_cmd.status)
app.command("console")(console_cmd)


def main() -> None:
    try:
        app()
    except ValidationError as exc:  # settings read from the environment, before any command ran
        errors.print(f"[bold red]error:[/] {settings_error(exc)}", highlight=False)
        raise SystemExit(1) from None
    except ToolformerError as exc:  # ours, raised before a command's own run() caught it
        if debugging():
            raise
        errors.print(f"[bold red]error:[/] {escape(one_line(exc))}", highlight=False)
        raise SystemExit(1) from None
