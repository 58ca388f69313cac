"""The benchmark harness's readings of a process."""

from __future__ import annotations

import os
import time

from async_toolformer.streams.devtools.bench.harness import cpu_seconds, peak_rss_mb


def test_cpu_seconds_counts_the_work_a_process_did() -> None:
    before = cpu_seconds(os.getpid())
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:
        pass
    assert 0.15 <= cpu_seconds(os.getpid()) - before < 5


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def test_peak_rss_covers_memory_the_process_touched() -> None:
    before = _rss_mb()
    held = b"x" * (128 * 1024 * 1024)  # written, so resident
    assert peak_rss_mb(os.getpid()) >= before + 120
    assert len(held) == 128 * 1024 * 1024
