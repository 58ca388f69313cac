"""Kafka and Redis in Docker through testcontainers, for machines with a Docker engine.

testcontainers and the docker SDK are dev dependencies, imported only when used.
Containers are reaped by testcontainers' Ryuk sidecar if we die before stop().
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import warnings
from pathlib import Path
from typing import Any

__all__ = ["ContainerService", "docker_available", "start_kafka_container",
           "start_redis_container"]

KAFKA_IMAGE = "confluentinc/cp-kafka:7.6.0"
REDIS_IMAGE = "redis:7-alpine"


def docker_available(timeout_s: float = 2.0) -> bool:
    """True if a Docker engine answers a ping; never raises, bounded by ``timeout_s``."""
    if not os.environ.get("DOCKER_HOST") and not Path("/var/run/docker.sock").exists():
        return False  # the common "no engine" case, without a connection attempt
    try:
        import docker

        client = docker.from_env(timeout=max(int(timeout_s), 1))
    except Exception:
        return False
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            client.close()


class ContainerService:
    """A started container and the address clients use to reach it."""

    def __init__(self, container: Any, address: str) -> None:
        self._container = container
        self.address = address

    async def stop(self) -> None:
        await asyncio.to_thread(self._container.stop)


def _import_community(module: str, name: str) -> Any:
    """testcontainers >= 4.9 moved modules under ``community``; take either."""
    import importlib

    try:
        return getattr(importlib.import_module(f"testcontainers.community.{module}"), name)
    except ImportError:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return getattr(importlib.import_module(f"testcontainers.{module}"), name)


async def start_kafka_container(image: str = KAFKA_IMAGE) -> ContainerService:
    """A single-node KRaft Kafka; its address is a bootstrap server list."""
    kafka_container = _import_community("kafka", "KafkaContainer")

    def start() -> ContainerService:
        container = kafka_container(image).with_kraft()
        container.start(timeout=120)
        return ContainerService(container, str(container.get_bootstrap_server()))

    return await asyncio.to_thread(start)


async def start_redis_container(image: str = REDIS_IMAGE) -> ContainerService:
    """A throwaway Redis; its address is a ``redis://`` URL."""
    redis_container = _import_community("redis", "RedisContainer")

    def start() -> ContainerService:
        container = redis_container(image)
        container.start()
        host = container.get_container_host_ip()
        port = container.get_exposed_port(6379)
        return ContainerService(container, f"redis://{host}:{port}/0")

    return await asyncio.to_thread(start)
