"""Caches keyed by what producers choose stay bounded."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import SecretStr

from async_toolformer.agents.providers import LLMProvider
from async_toolformer.agents.sessions import (
    MemoryOutbox,
    RegistryCatalogue,
    SessionMachine,
    SessionRuntime,
    SessionTopics,
)
from async_toolformer.agents.tools import load_tools
from async_toolformer.schemas import (
    SessionCancelRequested,
    SessionEvent,
    SessionOptions,
    SessionStarted,
)
from async_toolformer.streams.worker.llm_settings import LLMSettings
from async_toolformer.streams.worker.providers import SettingsProviders


async def test_the_provider_cache_keeps_the_most_recently_used_models() -> None:
    source = SettingsProviders(LLMSettings(openai_api_key=SecretStr("k")), max_providers=2)
    try:
        first = source.provider(SessionOptions(model="m0"))
        for i in range(1, 6):  # a producer naming a new model with every session
            source.provider(SessionOptions(model=f"m{i}"))
            assert source.provider(SessionOptions(model="m0")) is first  # used: kept
        assert [key[1] for key in source._cache] == ["m5", "m0"]
        source.provider(SessionOptions(model="m1"))  # evicted long ago: built again
        assert [key[1] for key in source._cache] == ["m0", "m1"]
    finally:
        await source.aclose()


class _EmptyJournal:
    async def read_many(self, partitions: set[int]) -> dict[int, Sequence[SessionEvent]]:
        return {partition: [] for partition in partitions}


class _NoModels:
    def provider(self, options: SessionOptions) -> LLMProvider:
        raise AssertionError("no model is called here")


async def test_partitions_are_remembered_only_for_open_sessions() -> None:
    topics = SessionTopics(calls="c", cancellations="x", session_events="e", dlq="d")
    runtime = SessionRuntime(SessionMachine(RegistryCatalogue(load_tools([]))), MemoryOutbox(),
                             _NoModels(), topics, _EmptyJournal())
    await runtime.ensure_recovered(0)
    for i in range(1_000):  # cancellations of sessions this worker never ran
        runtime.note_partition(f"stranger-{i}", 0)
        await runtime.apply(SessionCancelRequested(session_id=f"stranger-{i}"))
    assert runtime.partition_of == {}
    started = SessionStarted(session_id="mine", prompt="hi", tools=("sleep",),
                             options=SessionOptions(model="m", max_turns=1))
    runtime.note_partition("mine", 0)
    runtime.apply(started)
    runtime.note_partition("mine", 0)
    runtime.apply(started)  # a redelivery: still open, still remembered
    assert runtime.partition_of == {"mine": 0}
    await runtime.close()
