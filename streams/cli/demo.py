"""``toolformer demo`` (what ``make run`` runs): the whole system on the embedded stack.

Two parts, each measured: a round of 14 tool calls run in parallel and then one
after another, and a full LLM session in which a scripted OpenAI-compatible model
asks for tools over two turns (streamed, each call dispatched the moment the
model has written it) and then answers.
"""

from __future__ import annotations

import asyncio
import contextlib

from pydantic import SecretStr
from rich.markup import escape
from rich.panel import Panel
from rich.rule import Rule

from async_toolformer.schemas import SessionCompleted, SessionFailed
from async_toolformer.streams.cli._runtime import console, run
from async_toolformer.streams.cli.ask import show_event, timings_table
from async_toolformer.streams.cli.render import results_table
from async_toolformer.streams.cli.serve import settings_with
from async_toolformer.streams.client import SessionClient, SessionFailedError, ToolformerClient
from async_toolformer.streams.devtools.demo import (
    DEMO_PROMPT,
    DEMO_SCRIPT,
    DEMO_TOOLS_MODULE,
    DemoReport,
    run_demo,
)
from async_toolformer.streams.kafka.security import KafkaSecurity
from async_toolformer.streams.worker.llm_settings import LLMSettings
from async_toolformer.streams.worker.run import run_worker
from async_toolformer.streams.worker.secret_values import redact_url


def demo() -> None:
    """Start broker, Redis, a worker and a scripted model; run a tool round and a session."""
    # The dev tools' own dependencies (aiohttp, the embedded broker) load only here.
    from async_toolformer.streams.devtools.fakellm import FakeLLMServer
    from async_toolformer.streams.devtools.stack import DevStack

    requested = settings_with([DEMO_TOOLS_MODULE], group_id="toolformer-demo")
    requested = requested.model_copy(update={"metrics_port": None})

    async def main() -> None:
        with console.status("starting the embedded broker, Redis and a worker ..."):
            stack = DevStack(requested)
            await stack.start()
        try:
            console.print(f"Kafka at [bold]{stack.bootstrap_servers}[/] ({stack.kafka.source}), "
                          f"Redis at [bold]{escape(redact_url(stack.redis_url))}[/] "
                          f"({stack.redis.source})")
            async with FakeLLMServer(DEMO_SCRIPT) as model:
                llm = LLMSettings(llm_base_url=model.base_url, openai_api_key=SecretStr("demo"),
                                  llm_model="scripted-demo")
                stop = asyncio.Event()
                worker = asyncio.create_task(
                    run_worker(stack.settings, stop, grace_s=2, llm=llm))
                try:
                    security = KafkaSecurity.from_settings(stack.settings)
                    await _tool_round(stack.bootstrap_servers, requested.topic_prefix,
                                      security=security)
                    await _session(stack.bootstrap_servers, requested.topic_prefix,
                                   security=security)
                finally:
                    stop.set()
                    with contextlib.suppress(asyncio.CancelledError):
                        await worker
        finally:
            await stack.stop()
        console.print("stopped the worker, the scripted model, Redis and the broker")

    run(main())


async def _tool_round(bootstrap: str, prefix: str, *, security: KafkaSecurity) -> None:
    console.print(Rule("1. one round of tool calls"))
    async with ToolformerClient(bootstrap, topic_prefix=prefix, security=security) as client:
        with console.status("running 14 calls in parallel, then one by one ..."):
            report = await run_demo(client)
    _show_round(report)


def _show_round(report: DemoReport) -> None:
    console.print(results_table(
        report.results,
        title=f"session {report.session_id}: {len(report.results)} tool calls in parallel"))
    console.print(Panel.fit(
        f"parallel through Kafka   [bold green]{report.parallel_s * 1000:7.0f} ms[/]"
        f"   (slowest single call {report.slowest_call_s * 1000:.0f} ms)\n"
        f"one after another        [bold]{report.sequential_s * 1000:7.0f} ms[/]\n"
        f"speedup                  [bold green]{report.speedup:7.1f}x[/]",
        title="measured", border_style="green"))


async def _session(bootstrap: str, prefix: str, *, security: KafkaSecurity) -> None:
    console.print(Rule("2. an LLM session (scripted OpenAI-compatible model, streamed)"))
    console.print(f"[bold]prompt:[/] {DEMO_PROMPT}")
    tools = ["get_weather", "web_search", "stock_price", "query_docs"]
    done: SessionCompleted | None = None
    async with SessionClient(bootstrap, topic_prefix=prefix, security=security) as client:
        async for event in client.stream_session(DEMO_PROMPT, tools=tools, timeout_s=120):
            show_event(event)
            if isinstance(event, SessionFailed):
                raise SessionFailedError(event)
            if isinstance(event, SessionCompleted):
                done = event
    if done is not None:
        console.print(Panel(done.answer, title="answer", border_style="green"))
        console.print(timings_table(done))
