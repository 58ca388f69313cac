"""Rate limits in the pipeline: ``reject`` answers rate_limited, ``wait`` spaces the calls."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from async_toolformer.schemas import CallStatus, ToolCallRequested

from .conftest import PipelineFactory

pytestmark = pytest.mark.connected

LIMITS = """
namespace = "{namespace}"

[[limits]]
name = "nap-reject"
scope = "tool"
match = "nap"
kind = "token_bucket"
rate = 1
per = "minute"
burst = 1
backpressure = "reject"

[[limits]]
name = "sleep-wait"
scope = "tool"
match = "sleep"
kind = "token_bucket"
rate = 10
per = "second"
burst = 1
"""


async def test_reject_and_wait_policies(pipeline_factory: PipelineFactory,
                                        tmp_path: Path, unique_prefix: str) -> None:
    limits = tmp_path / "limits.toml"
    limits.write_text(LIMITS.format(namespace=f"{unique_prefix}limits"))
    pipe = await pipeline_factory(limits_file=limits)

    naps = await pipe.client.run([
        ToolCallRequested(call_id=f"nap-{i}", session_id="limits", tool="nap",
                          arguments={"ms": 1}) for i in range(4)], timeout_s=30)
    statuses = sorted(r.status.value for r in naps)
    assert statuses == ["ok", "rate_limited", "rate_limited", "rate_limited"]
    limited = [r for r in naps if r.status is CallStatus.RATE_LIMITED]
    assert all(r.retry_after_ms and r.retry_after_ms > 1000 for r in limited)

    sleeps = await pipe.client.run([
        ToolCallRequested(call_id=f"sleep-{i}", session_id="limits", tool="sleep",
                          arguments={"ms": 1}) for i in range(5)], timeout_s=30)
    assert all(r.status is CallStatus.OK for r in sleeps)
    starts = sorted(r.timings.started_at for r in sleeps if r.timings.started_at)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
    assert min(gaps) > 0.05  # 10 per second with a burst of 1: about 0.1 s apart
