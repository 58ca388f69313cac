"""``toolformer worker`` and ``toolformer dev``: serve tool calls until Ctrl-C or SIGTERM.

The settings and the model settings are read from the environment here, and
only here: the worker is handed them.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.markup import escape
from rich.panel import Panel

from async_toolformer.streams.cli._runtime import console, run, stop_on_signals
from async_toolformer.streams.devtools.stack import DevStack
from async_toolformer.streams.kafka.security import KafkaSecurity
from async_toolformer.streams.tracing import traced_process
from async_toolformer.streams.worker.llm_settings import LLMSettings
from async_toolformer.streams.worker.run import RunningWorker, run_worker
from async_toolformer.streams.worker.secret_values import redact_url
from async_toolformer.streams.worker.settings import Settings

ToolsOption = Annotated[
    list[str] | None,
    typer.Option("--tools", "-t", help="Module of @tool functions to load (repeatable)."),
]
MetricsOption = Annotated[
    int | None, typer.Option(help="Port of the Prometheus /metrics endpoint (0: any free).")
]


def settings_with(tools: list[str] | None, metrics_port: int | None = None,
                  **overrides: object) -> Settings:
    base = Settings()
    update: dict[str, object] = {k: v for k, v in overrides.items() if v is not None}
    if tools:
        update["tools"] = [*base.tools, *tools]
    if metrics_port is not None:
        update["metrics_port"] = metrics_port
    return base.model_copy(update=update)


def worker(tools: ToolsOption = None, metrics_port: MetricsOption = None) -> None:
    """Run one worker against KAFKA_BOOTSTRAP_SERVERS and REDIS_URL (join the group to scale)."""
    settings = settings_with(tools, metrics_port)
    llm = LLMSettings()

    async def main() -> None:
        stop = asyncio.Event()
        stop_on_signals(stop, deadline_s=settings.shutdown_timeout_s)
        with traced_process("toolformer-worker", group=settings.group_id):  # OTEL_* variables
            await run_worker(settings, stop, llm=llm,
                             on_started=lambda w: _announce(settings, w))

    run(main())


def dev(tools: ToolsOption = None, metrics_port: MetricsOption = None) -> None:
    """Start the embedded broker and Redis, create the topics and run a worker on them."""
    requested = settings_with(tools, metrics_port)
    llm = LLMSettings()

    async def main() -> None:
        stop = asyncio.Event()
        stop_on_signals(stop, deadline_s=requested.shutdown_timeout_s)
        async with DevStack(requested) as stack:
            settings = stack.settings
            shown_url = redact_url(stack.redis_url)  # a REDIS_URL may carry a password
            security = escape(KafkaSecurity.from_settings(settings).describe())
            console.print(Panel.fit(
                f"Kafka bootstrap  [bold]{escape(stack.bootstrap_servers)}[/] "
                f"({stack.kafka.source}, {security})\n"
                f"Redis            [bold]{escape(shown_url)}[/] ({stack.redis.source})\n\n"
                f"export KAFKA_BOOTSTRAP_SERVERS={escape(stack.bootstrap_servers)}"
                + (f"\nexport REDIS_URL={escape(shown_url)}"
                   if shown_url == stack.redis_url else ""),
                title="toolformer dev", border_style="cyan"))
            with traced_process("toolformer-worker", group=settings.group_id):
                await run_worker(settings, stop, llm=llm,
                                 on_started=lambda w: _announce(settings, w))
        console.print("stopped: broker, Redis and worker are down")

    run(main())


def _announce(settings: Settings, worker: RunningWorker) -> None:
    tools = ", ".join(worker.agent.registry.names())
    metrics = (f"http://127.0.0.1:{worker.metrics_port}/metrics" if worker.metrics_port
               else "off")
    console.print(
        f"worker [bold]{settings.worker_id}[/] in group [bold]{settings.group_id}[/]: "
        f"topics {settings.topic_prefix}*, tools: {tools}; metrics: {metrics}. Ctrl-C stops.")
