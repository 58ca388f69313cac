"""The topic catalogue: names under one prefix, and creating them on a broker.

Every topic a worker consumes has the same partition count, so Faust's assignor
gives partition ``p`` of each to the same worker and a session is handled in one
place.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from async_toolformer.streams.exceptions import TopicMismatchError
from async_toolformer.streams.kafka.security import PLAINTEXT, KafkaSecurity


@dataclass(frozen=True, slots=True)
class TopicCatalogue:
    """Names of the system's topics, derived from one prefix."""

    prefix: str = "toolformer."

    @property
    def calls(self) -> str:
        return f"{self.prefix}calls"

    @property
    def cancellations(self) -> str:
        return f"{self.prefix}cancellations"

    @property
    def results(self) -> str:
        return f"{self.prefix}results"

    @property
    def sessions(self) -> str:
        return f"{self.prefix}sessions"

    @property
    def session_events(self) -> str:
        return f"{self.prefix}session-events"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}dlq"

    def all(self) -> tuple[str, ...]:
        return (self.calls, self.cancellations, self.results, self.sessions,
                self.session_events, self.dlq)


async def ensure_topics(
    bootstrap_servers: str,
    catalogue: TopicCatalogue,
    *,
    partitions: int,
    replication_factor: int = 1,
    security: KafkaSecurity = PLAINTEXT,
) -> None:
    """Create the catalogue's topics that do not exist; check those that do.

    A topic that exists with another partition count would break co-partitioning,
    so it is an error rather than something to work around.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers,
                                **security.client_options())
    await admin.start()
    try:
        # List before describing: asking for metadata of a missing topic makes a broker
        # with auto-creation (Tansu always, Kafka by default) create it with *its*
        # default partition count.
        present = set(await admin.list_topics()) & set(catalogue.all())
        missing = [NewTopic(name, partitions, replication_factor)
                   for name in catalogue.all() if name not in present]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker was first
                await admin.create_topics(missing)
        described = await admin.describe_topics(sorted(present)) if present else []
        wrong = {
            meta["topic"]: len(meta["partitions"]) for meta in described
            if meta.get("error_code", 0) == 0 and len(meta["partitions"]) != partitions
        }
        if wrong:
            raise TopicMismatchError(
                f"topics {wrong} exist with other partition counts than {partitions}; "
                "set TOOLFORMER_PARTITIONS to match them or recreate the topics"
            )
    finally:
        await admin.close()
