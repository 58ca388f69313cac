"""``toolformer policy check FILE``: validate a tenant policy file and show what it allows."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from async_toolformer.streams.cli._runtime import console, errors
from async_toolformer.streams.worker.policy_file import PolicyConfigError, as_dict, load_policy

__all__ = ["policy_app"]

policy_app = typer.Typer(help="Check a tenant policy file.", no_args_is_help=True)


@policy_app.command()
def check(file: Annotated[Path, typer.Argument(help="Policy file (TOML).")]) -> None:
    """Validate FILE and print each tenant's rights; exit 1 with the reason if it is wrong."""
    try:
        policy = load_policy(file)
    except PolicyConfigError as exc:
        errors.print(Text.assemble(("error: ", "bold red"), str(exc)), soft_wrap=True)
        raise typer.Exit(1) from None
    table = Table(title=Text(f"{file}: {len(policy.tenants)} tenants"))
    for column in ("tenant", "tools", "services", "providers", "models", "max_tokens",
                   "max_turns", "race", "keep_top_n", "scorers"):
        table.add_column(column)
    for name, rights in as_dict(policy).items():
        table.add_row(Text(name), *(Text(_cell(rights[key])) for key in (
            "tools", "services", "providers", "models", "max_tokens", "max_turns", "race",
            "keep_top_n", "scorers")))
    table.caption = "a tenant not listed may do nothing; * allows any name"
    console.print(table)


def _cell(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(value) or "-"
    if value is None:
        return "no ceiling"
    return str(value).lower() if isinstance(value, bool) else str(value)
