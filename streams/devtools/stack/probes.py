"""Does a service answer? Bounded checks that never raise.

A TCP connect is not enough: a port can be open before the service speaks its
protocol, so Kafka is asked for its cluster description and Redis is sent PING.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from redis.asyncio import Redis

from async_toolformer.streams.kafka.security import PLAINTEXT, KafkaSecurity

__all__ = ["kafka_answers", "kafka_cluster_id", "redis_answers", "redis_server_pid"]


async def kafka_cluster_id(bootstrap_servers: str, timeout_s: float = 2.0, *,
                           security: KafkaSecurity = PLAINTEXT) -> str | None:
    """The cluster id the brokers at ``bootstrap_servers`` report, or None if they do not answer.

    Used as an identity check too: a broker we started with a unique cluster id is
    told apart from some other process that happens to listen on the same port.
    """
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers,
        request_timeout_ms=max(int(timeout_s * 1000), 1000),
        **security.client_options(),
    )
    try:
        async with asyncio.timeout(timeout_s):
            await admin.start()
            description = await admin.describe_cluster()
    except Exception:
        return None
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
    cluster_id = description.get("cluster_id")
    return str(cluster_id) if cluster_id is not None else ""


async def kafka_answers(bootstrap_servers: str, timeout_s: float = 2.0, *,
                        security: KafkaSecurity = PLAINTEXT) -> bool:
    """True if a broker in ``bootstrap_servers`` answers within ``timeout_s``."""
    return await kafka_cluster_id(bootstrap_servers, timeout_s, security=security) is not None


async def redis_answers(url: str, timeout_s: float = 1.0, *,
                        options: dict[str, Any] | None = None) -> bool:
    """True if the Redis at ``url`` answers PING within ``timeout_s`` (``options``: its ACL)."""
    return await redis_server_pid(url, timeout_s, options=options) is not None


async def redis_server_pid(url: str, timeout_s: float = 1.0, *,
                           options: dict[str, Any] | None = None) -> int | None:
    """The process id the Redis at ``url`` reports, or None if it does not answer.

    Lets a throwaway server check that the Redis answering on its port is itself.
    """
    client = Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s,
                            **(options or {}))
    try:
        async with asyncio.timeout(timeout_s):
            info = await client.info("server")
    except Exception:
        return None
    finally:
        with contextlib.suppress(Exception):
            await client.aclose()
    return int(info.get("process_id", -1))
