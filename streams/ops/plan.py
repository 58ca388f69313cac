"""Where a replay runs: its own topics, its own consumer group, and which ledger namespace.

Replaying "under a new consumer group" means the recorded calls are copied to
the ``calls`` topic of a replay prefix (``<prefix>replay-<id>.``) and served by
workers of a group of their own (``<group>-replay-<id>``). Nothing is written to
the live topics and the live group's offsets are untouched, so live workers and
their clients never see a replay. Who runs the calls is then simply whichever
workers join that group on that prefix: by default one in-process worker that
``toolformer replay`` starts, or (``--external``) workers started elsewhere with
the environment :meth:`ReplayPlan.worker_env` prints, e.g. with a new tool version.

With the live ledger namespace every call already recorded is answered from the
ledger (the tool does not run; the recorded event is re-emitted); ``--fresh``
uses a namespace of the replay's own, so every call runs again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from async_toolformer.streams.kafka.topics import TopicCatalogue
from async_toolformer.streams.worker.settings import Settings


@dataclass(frozen=True, slots=True)
class ReplayPlan:
    """Names of one replay run."""

    replay_id: str
    source: TopicCatalogue
    target: TopicCatalogue
    group_id: str
    ledger_namespace: str
    fresh: bool
    partitions: int | None = None  # the source's, once known: the replay's topics match it

    def worker_settings(self, base: Settings) -> Settings:
        """Settings of a worker serving this replay."""
        return base.model_copy(update={
            "topic_prefix": self.target.prefix, "group_id": self.group_id,
            "ledger_namespace": self.ledger_namespace,
            "worker_id": f"{base.worker_id}-replay-{self.replay_id}",
            "partitions": self.partitions or base.partitions,
        })

    def worker_env(self) -> dict[str, str]:
        """Environment for ``toolformer worker`` processes that should serve this replay."""
        env = {"TOOLFORMER_TOPIC_PREFIX": self.target.prefix,
               "TOOLFORMER_GROUP_ID": self.group_id,
               "TOOLFORMER_LEDGER_NAMESPACE": self.ledger_namespace}
        if self.partitions is not None:
            env["TOOLFORMER_PARTITIONS"] = str(self.partitions)
        return env


def plan_replay(settings: Settings, *, fresh: bool, replay_id: str | None = None) -> ReplayPlan:
    """The names for a replay of ``settings``' topics."""
    rid = replay_id or uuid.uuid4().hex[:8]
    source = TopicCatalogue(settings.topic_prefix)
    namespace = f"{settings.ledger_namespace}-replay-{rid}" if fresh else settings.ledger_namespace
    return ReplayPlan(replay_id=rid, source=source,
                      target=TopicCatalogue(f"{settings.topic_prefix}replay-{rid}."),
                      group_id=f"{settings.group_id}-replay-{rid}",
                      ledger_namespace=namespace, fresh=fresh)
