"""Workers as separate processes (``toolformer worker``), for crash and scaling tests."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from dataclasses import dataclass, field

from async_toolformer.streams.worker.settings import Settings


@dataclass
class WorkerProcess:
    """One ``toolformer worker`` child on the given settings' topics and group."""

    settings: Settings
    name: str
    extra_env: dict[str, str] = field(default_factory=dict)
    process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        s = self.settings
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": s.kafka_bootstrap_servers or "",
            "TOOLFORMER_TOPIC_PREFIX": s.topic_prefix,
            "TOOLFORMER_GROUP_ID": s.group_id,
            "TOOLFORMER_PARTITIONS": str(s.partitions),
            "TOOLFORMER_WORKER_ID": self.name,
            "TOOLFORMER_METRICS_PORT": "0",
            "TOOLFORMER_TOOLS": '["tests.pipeline.tools_for_tests"]',
            **self.extra_env,
        }
        if s.redis_url:
            env["REDIS_URL"] = s.redis_url
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "async_toolformer.streams.cli", "worker", env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True)

    def kill(self) -> None:
        """``kill -9``: no shutdown, no final commit."""
        if self.process is not None and self.process.returncode is None:
            os.killpg(self.process.pid, signal.SIGKILL)

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), 20)
        except TimeoutError:
            self.kill()
            await self.process.wait()
