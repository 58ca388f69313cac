"""What rate limits cost the pipeline: echo throughput with a generous limit, and without.

The limit admits everything (a token bucket far above what one worker can do),
so the difference is the price of deciding, not of waiting.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

from async_toolformer.streams.devtools.bench.pipeline import echo_throughput
from async_toolformer.streams.worker.settings import Settings

GENEROUS_LIMITS = """
namespace = "{namespace}"

[[limits]]
name = "echo-generous"
scope = "tool"
match = "echo"
kind = "token_bucket"
rate = 10000000
per = "second"
burst = 1000000
"""


async def bench_limits_cost(settings: Settings, *, calls: int = 10_000) -> dict[str, float]:
    """``pipeline_*_calls_per_s`` with and without limits, and their ratio."""
    run = f"lim{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as folder:
        limits = Path(folder) / "limits.toml"
        limits.write_text(GENEROUS_LIMITS.format(namespace=f"{run}-limits"))
        unlimited = await echo_throughput(settings, f"{run}-off", calls)
        limited = await echo_throughput(settings, f"{run}-on", calls,
                                        TOOLFORMER_LIMITS_FILE=str(limits))
    return {"pipeline_unlimited_calls_per_s": unlimited,
            "pipeline_limited_calls_per_s": limited,
            "limits_throughput_ratio": limited / unlimited}
