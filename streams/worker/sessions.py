"""Putting the session loop into a worker: agents on ``sessions`` and ``results``, rebalances.

``install_session_agents`` is called by the worker next to the executor's agents.
Partitions are tracked from each new assignment (not from the revocation signal,
which an eager rebalance sends for every partition): a partition lost is
dropped, a partition gained is re-folded before its first record is handled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from async_toolformer.agents.policy import Policy, SessionPolicy
from async_toolformer.agents.providers import import_sdks
from async_toolformer.agents.sessions import (
    RegistryCatalogue,
    SessionAgent,
    SessionMachine,
    SessionRuntime,
    SessionTopics,
)
from async_toolformer.agents.sessions.ports import RecordSink
from async_toolformer.agents.tools import ToolRegistry
from async_toolformer.streams.kafka.app import ToolformerApp
from async_toolformer.streams.kafka.journal import KafkaJournalSource
from async_toolformer.streams.kafka.outbox import KafkaOutbox
from async_toolformer.streams.kafka.publisher import KafkaPublisher
from async_toolformer.streams.kafka.security import PLAINTEXT, KafkaSecurity
from async_toolformer.streams.kafka.topics import TopicCatalogue
from async_toolformer.streams.redis.ledger import Ledger
from async_toolformer.streams.redis.ratelimit import RateLimiter
from async_toolformer.streams.redis.result_check import LedgerResultCheck
from async_toolformer.streams.redis.turn_guard import LedgerTurnGuard
from async_toolformer.streams.worker.llm_settings import LLMSettings
from async_toolformer.streams.worker.providers import SettingsProviders

__all__ = ["install_session_agents"]

logger = logging.getLogger(__name__)


def install_session_agents(app: ToolformerApp, *, catalogue: TopicCatalogue,
                           publisher: KafkaPublisher, registry: ToolRegistry,
                           bootstrap_servers: str, worker_id: str, llm: LLMSettings,
                           default_timeout_s: float = 30.0, ledger: Ledger | None = None,
                           limiter: RateLimiter | None = None,
                           security: KafkaSecurity = PLAINTEXT,
                           session_deadline_s: float | None = None,
                           policy: Policy | None = None,
                           outbox_tap: Callable[[RecordSink], RecordSink] | None = None
                           ) -> SessionAgent:
    """Register the session agents on ``app``; they run while the app runs (models: ``llm``).

    ``policy``: what each tenant's sessions may do (None: anything); ``outbox_tap``: wraps
    the session loop's outbox to follow what it sends (speculation).
    """
    import_sdks()
    tools = RegistryCatalogue(registry, default_timeout_s=default_timeout_s)
    outbox, sink = _outboxes(publisher, outbox_tap)
    providers = SettingsProviders(llm)
    topics = SessionTopics(calls=catalogue.calls, cancellations=catalogue.cancellations,
                           session_events=catalogue.session_events, dlq=catalogue.dlq)
    journal = KafkaJournalSource(bootstrap_servers, catalogue.session_events, publisher,
                                 worker_id, security=security)
    guard = (LedgerTurnGuard(ledger, limiter, providers, worker_id=worker_id)
             if ledger is not None or limiter is not None else None)
    machine = SessionMachine(tools, default_deadline_s=session_deadline_s)
    runtime = SessionRuntime(machine, sink, providers, topics, journal,
                             guard=guard)
    rules = (SessionPolicy(policy, llm.llm_provider, llm.llm_model,
                           service_of=lambda name: registry.get(name).service
                           if name in registry else None)
             if policy is not None else None)
    agent = SessionAgent(runtime=runtime, catalogue=tools, outbox=sink, worker_id=worker_id,
                         policy=rules,
                         results_check=LedgerResultCheck(ledger) if ledger is not None else None)
    if ledger is None:
        logger.warning("no execution ledger: sessions take every result for their calls as it "
                       "comes; a producer on the results topic can forge one")
    closed: list[bool] = []

    async def close_once() -> None:
        if not closed:
            closed.append(True)
            await runtime.close()
            await outbox.stop()
            await providers.aclose()

    async def run_sessions(stream: Any) -> None:
        try:
            await agent.consume_sessions(stream)
        finally:
            await close_once()

    async def route_results(stream: Any) -> None:
        try:
            await agent.consume_results(stream)
        finally:
            await close_once()

    sessions = app.topic(catalogue.sessions, key_serializer="raw", value_serializer="raw")
    results = app.topic(catalogue.results, key_serializer="raw", value_serializer="raw")
    app.agent(sessions, name="toolformer.run-sessions")(run_sessions)
    app.agent(results, name="toolformer.route-results")(route_results)
    app.record_gates[catalogue.results] = agent.wants_result
    held: set[int] = set()

    async def assigned(sender: Any, assigned: Any, *, signal: Any = None, **_: Any) -> None:
        now = {tp.partition for tp in assigned if tp.topic == catalogue.sessions}
        lost, gained = held - now, now - held
        held.clear()
        held.update(now)
        if lost:
            agent.on_revoked(lost)
        if gained:
            logger.info("session partitions gained %s, lost %s", sorted(gained), sorted(lost))
            agent.on_assigned(gained)

    app.on_partitions_assigned.connect(assigned)  # type: ignore[arg-type]  # untyped Signal
    return agent


def _outboxes(publisher: KafkaPublisher, tap: Callable[[RecordSink], RecordSink] | None
              ) -> tuple[KafkaOutbox, RecordSink]:
    """The session loop's outbox, and what it sends through (the outbox, or a tap on it)."""
    outbox = KafkaOutbox(publisher)
    return outbox, tap(outbox) if tap is not None else outbox
