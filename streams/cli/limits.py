"""``toolformer limits``: check a limits file, show each limit's state in Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.table import Table

from async_toolformer.streams.cli._runtime import console, errors
from async_toolformer.streams.redis.ratelimit import (
    ConcurrencyLimit,
    Limit,
    LimitsConfig,
    LimitsConfigError,
    LimitState,
    RateLimiter,
    RateLimiterUnavailableError,
    load_limits,
)
from async_toolformer.streams.worker.settings import Settings

__all__ = ["limits_app"]

limits_app = typer.Typer(help="Check and inspect rate limits.", no_args_is_help=True)

_FILE_HELP = "Limits file (TOML)."


@limits_app.command()
def check(file: Annotated[Path, typer.Argument(help=_FILE_HELP)]) -> None:
    """Validate FILE and print its limits; exit 1 with the reason if it is wrong."""
    config = _load(file)
    console.print(limits_table(config, title=f"{file}: {len(config.limits)} limits"))


@limits_app.command()
def show(
    file: Annotated[Path, typer.Option("--file", "-f", envvar="TOOLFORMER_LIMITS_FILE",
                                       help=_FILE_HELP)],
    redis_url: Annotated[str | None, typer.Option(
        "--redis-url", help="Overrides REDIS_URL.")] = None,
) -> None:
    """Each limit's current state, read from Redis (namespace from the file)."""
    config = _load(file)
    settings = Settings() if redis_url is None else Settings(redis_url=redis_url)
    try:
        states = asyncio.run(_snapshot(config, settings))
    except RateLimiterUnavailableError as exc:
        _fail(str(exc))
    console.print(states_table(states, title=f"limits in {{{config.namespace}}}"))


async def _snapshot(config: LimitsConfig, settings: Settings) -> list[LimitState]:
    async with RateLimiter.from_settings(config, settings) as limiter:
        return await limiter.snapshot()


def _load(file: Path) -> LimitsConfig:
    try:
        return load_limits(file)
    except LimitsConfigError as exc:
        _fail(str(exc))


def _fail(message: str) -> NoReturn:
    """One line on stderr, never wrapped, and exit status 1."""
    errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def limits_table(config: LimitsConfig, *, title: str | None = None) -> Table:
    table = Table(title=title)
    for column in ("name", "scope", "match", "kind", "limit", "burst", "units", "backpressure"):
        table.add_column(column)
    for limit in config.limits:
        table.add_row(limit.name, limit.scope, limit.match, limit.kind, _amount(limit),
                      _burst(limit), _units(limit), limit.backpressure)
    table.caption = (f"namespace {{{config.namespace}}}, {config.failure_policy}, "
                     f"worker share {config.worker_share:g}")
    return table


def states_table(states: list[LimitState], *, title: str | None = None) -> Table:
    table = Table(title=title)
    for column in ("limit", "kind", "scope", "subject", "available", "capacity", "full in"):
        table.add_column(column, justify="right" if column in (
            "available", "capacity", "full in") else "left")
    for state in states:
        style = "red" if state.available < 1 else "green"
        full_in = "" if state.full_in_ms is None else f"{state.full_in_ms} ms"
        table.add_row(state.limit, state.kind, state.scope, state.subject,
                      f"[{style}]{state.available:.1f}[/]", f"{state.capacity:g} {state.units}",
                      full_in)
    if not states:
        table.caption = "no limit has state in Redis yet"
    return table


def _amount(limit: Limit) -> str:
    if isinstance(limit, ConcurrencyLimit):
        return f"{limit.max_in_flight} in flight (lease {limit.lease_s:g} s)"
    per = limit.per if isinstance(limit.per, str) else f"{limit.per:g} s"
    return f"{limit.rate:g} / {per}"


def _burst(limit: Limit) -> str:
    return "" if isinstance(limit, ConcurrencyLimit) or limit.kind != "token_bucket" \
        else f"{limit.capacity:g}"


def _units(limit: Limit) -> str:
    return "calls" if isinstance(limit, ConcurrencyLimit) else limit.units
