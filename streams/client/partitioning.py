"""Which partition a session's records live on: Kafka's default (murmur2) key partitioner.

Workers publish results keyed by ``session_id`` with this partitioner, so a client
reads one partition per session instead of the whole ``results`` topic. Java
clients and aiokafka use it by default; librdkafka clients (confluent-kafka,
kcat) need ``partitioner=murmur2_random`` to agree.
"""

from __future__ import annotations

from aiokafka.partitioner import murmur2


def partition_for(session_id: str, partitions: int) -> int:
    """The partition ``session_id`` maps to on a topic of ``partitions`` partitions."""
    if partitions < 1:
        raise ValueError("a topic has at least one partition")
    digest: int = murmur2(session_id.encode())
    return (digest & 0x7FFFFFFF) % partitions
