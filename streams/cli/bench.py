"""``toolformer bench ...``: each benchmark measures its baseline in the same run.

A benchmark's module is imported when it runs: the session benchmark pulls in
the OpenAI SDK, which every other command would otherwise load at start-up.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from async_toolformer.streams.cli import replay as replay_cmd
from async_toolformer.streams.cli._runtime import console, run
from async_toolformer.streams.cli.render import print_report
from async_toolformer.streams.devtools.stack import DevStack
from async_toolformer.streams.worker.settings import Settings

bench_app = typer.Typer(help="Benchmarks against the embedded stack or the configured services.",
                        no_args_is_help=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


@bench_app.command("pipeline")
def pipeline(
    as_json: JsonFlag = False,
    calls: Annotated[int, typer.Option(help="Echo calls for the throughput run.")] = 20_000,
    concurrent: Annotated[int, typer.Option(help="1-second calls submitted at once.")] = 20_000,
    tracing: Annotated[bool, typer.Option(
        "--tracing", help="Instead: the worker with traces off, on at ratio 0 and on sampling "
                          "every call, in interleaved rounds (--calls each).")] = False,
    rounds: Annotated[int, typer.Option(min=1, help="Rounds of each side (--tracing).")] = 5,
) -> None:
    """Throughput and latency of echo calls and a burst of concurrent sleeps, vs plain aiokafka."""
    from async_toolformer.streams.devtools.bench.pipeline import bench_pipeline

    if tracing:
        from async_toolformer.streams.devtools.bench.tracing_cost import bench_tracing

        with console.status("benchmarking the worker with traces off and on ..."):
            traced = run(bench_tracing(Settings(), calls=calls, rounds=rounds))
        print_report(traced, as_json=as_json)
        return

    with console.status("benchmarking the pipeline (about two minutes) ...", ):
        report = run(bench_pipeline(Settings(), throughput_calls=calls,
                                    concurrent_calls=concurrent))
    print_report(report, as_json=as_json)


@bench_app.command("ratelimit")
def ratelimit(as_json: JsonFlag = False) -> None:
    """Rate-limit decisions against a plain Redis GET, and admission under contention."""
    from async_toolformer.streams.devtools.bench.limits_cost import bench_limits_cost
    from async_toolformer.streams.devtools.bench.ratelimit import bench_ratelimit

    async def main() -> dict[str, Any]:
        async with DevStack(Settings()) as stack:
            report: dict[str, Any] = dict(await bench_ratelimit(stack.redis_url))
            report.update(await bench_limits_cost(stack.settings))
            return report

    with console.status("benchmarking the rate limiter, then the pipeline with limits ..."):
        report = run(main())
    print_report(report, as_json=as_json)


@bench_app.command("session")
def session(
    as_json: JsonFlag = False,
    repeats: Annotated[int, typer.Option(min=1, help="Runs of each scenario (rounds of each "
                                               "level with --concurrency).")] = 3,
    concurrency: Annotated[str | None, typer.Option(
        help="Sessions at once from one client, a list such as 1,10,100,300: efficiency "
             "p50/p10, sessions/s and CPU per session at each level.")] = None,
) -> None:
    """Four agent workloads with a scripted model: sequential vs the system vs ideal."""
    if concurrency is not None:
        from async_toolformer.streams.devtools.bench.session_load import bench_session_load

        levels = _levels(concurrency)
        with console.status(f"benchmarking {', '.join(map(str, levels))} sessions at once ..."):
            report = run(bench_session_load(Settings(), levels, repeats=repeats))
        print_report(report, as_json=as_json)
        return
    from async_toolformer.streams.devtools.bench.session import bench_session

    with console.status("benchmarking sessions (about two minutes) ..."):
        report = run(bench_session(Settings(), repeats=repeats))
    print_report(report, as_json=as_json)


def _levels(text: str) -> list[int]:
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        levels = []
    if not levels or min(levels) < 1:
        raise typer.BadParameter(f"{text!r}: give positive whole numbers, like 1,10,100",
                                 param_hint="--concurrency")
    return levels


bench_app.command("replay")(replay_cmd.bench)


@bench_app.command("cache")
def cache(
    as_json: JsonFlag = False,
    samples: Annotated[int, typer.Option(min=10, help="Hits and echoes per round.")] = 150,
    rounds: Annotated[int, typer.Option(min=1, help="Rounds; the ratio is their median.")] = 3,
) -> None:
    """p50 latency of a result-cache hit over an echo call's, through one worker."""
    from async_toolformer.streams.devtools.bench.cache import bench_cache

    with console.status("benchmarking cache hits against echo calls ..."):
        report = run(bench_cache(Settings(), samples=samples, rounds=rounds))
    print_report(report, as_json=as_json)


@bench_app.command("plans")
def plans(
    as_json: JsonFlag = False,
    repeats: Annotated[int, typer.Option(min=1, help="Sessions of each mode, alternated.")] = 5,
    model_latency_ms: Annotated[float, typer.Option(
        min=0, help="The scripted model's latency per turn.")] = 300,
) -> None:
    """Plan mode: chains of dependent calls as one plan vs one call per model turn."""
    from async_toolformer.streams.devtools.bench.plans import measure_plan_speedup

    with console.status("benchmarking plans (about a minute) ..."):
        report = run(measure_plan_speedup(Settings(), repeats=repeats,
                                          model_latency_ms=model_latency_ms))
    print_report(report, as_json=as_json)


@bench_app.command("speculation")
def speculation(
    as_json: JsonFlag = False,
    seed: Annotated[int, typer.Option(help="Seed of the generated workloads.")] = 7,
    sessions: Annotated[int, typer.Option(
        min=10, help="Offline sessions to learn on, and as many held out.")] = 400,
    live_sessions: Annotated[int, typer.Option(
        min=2, help="Real sessions to learn on, and as many held out, per worker.")] = 40,
    turn_latency_ms: Annotated[float, typer.Option(
        min=0, help="The scripted model's latency per turn.")] = 400,
) -> None:
    """Speculation: precision, recall, waste; session p50 with and without; plans; cache."""
    from async_toolformer.streams.devtools.bench.speculation import bench_speculation

    with console.status("benchmarking speculation (a few minutes) ..."):
        report = run(bench_speculation(Settings(), seed=seed, sessions=sessions,
                                       live_sessions=live_sessions,
                                       turn_latency_ms=turn_latency_ms))
    print_report(report, as_json=as_json)


@bench_app.command("scaling")
def scaling(
    as_json: JsonFlag = False,
    burst: Annotated[int, typer.Option(min=1, help="Calls per capacity burst.")] = 3_000,
    rate: Annotated[float, typer.Option(min=1, help="Calls/s while workers join and leave.")
                    ] = 200.0,
    concurrency: Annotated[int, typer.Option(min=1, help="Per-worker cap of the tool.")] = 50,
    ms: Annotated[int, typer.Option(min=1, max=10_000, help="Wait of each call.")] = 100,
) -> None:
    """Two workers against one under a per-worker cap, and the pause while one joins or leaves."""
    from async_toolformer.streams.devtools.bench.scaling import ScalingParams, bench_scaling

    params = ScalingParams(concurrency=concurrency, ms=ms, burst=burst, rate=rate)
    with console.status("benchmarking scaling (about a minute) ..."):
        report = run(bench_scaling(Settings(), params))
    print_report(report, as_json=as_json)
