"""``toolformer demo`` (what ``make run`` runs): the whole system on the embedded stack."""

from __future__ import annotations

import asyncio
import contextlib

from rich.panel import Panel

from ..client import ToolformerClient
from ..demo import DEMO_TOOLS_MODULE, run_demo
from ..dev import DevStack
from ..worker import run_worker
from ._runtime import console, run
from .render import results_table
from .serve import settings_with


def demo() -> None:
    """Start broker, Redis and a worker; run one session of parallel calls; show the speedup."""
    requested = settings_with([DEMO_TOOLS_MODULE], group_id="toolformer-demo")
    requested = requested.model_copy(update={"metrics_port": None})

    async def main() -> None:
        with console.status("starting the embedded broker, Redis and a worker ..."):
            stack = DevStack(requested)
            await stack.start()
        try:
            console.print(f"Kafka at [bold]{stack.bootstrap_servers}[/] ({stack.kafka.source}), "
                          f"Redis at [bold]{stack.redis_url}[/] ({stack.redis.source})")
            stop = asyncio.Event()
            worker = asyncio.create_task(run_worker(stack.settings, stop, grace_s=2))
            try:
                async with ToolformerClient(stack.bootstrap_servers,
                                            topic_prefix=requested.topic_prefix) as client:
                    with console.status("waiting for the worker, then running the calls "
                                        "in parallel and one by one ..."):
                        report = await run_demo(client)
            finally:
                stop.set()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
        finally:
            await stack.stop()
        console.print(results_table(
            report.results,
            title=f"session {report.session_id}: {len(report.results)} tool calls in parallel"))
        console.print(Panel.fit(
            f"parallel through Kafka   [bold green]{report.parallel_s * 1000:7.0f} ms[/]"
            f"   (slowest single call {report.slowest_call_s * 1000:.0f} ms)\n"
            f"one after another        [bold]{report.sequential_s * 1000:7.0f} ms[/]\n"
            f"speedup                  [bold green]{report.speedup:7.1f}x[/]",
            title="measured", border_style="green"))
        console.print("stopped the worker, Redis and the broker")

    run(main())
