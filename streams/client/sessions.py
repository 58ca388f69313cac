"""The session client: start a session, watch its journal, get its answer.

    async with SessionClient("localhost:9092") as client:
        done = await client.run_session("Weather in Paris and Oslo?",
                                        tools=["get_weather"], options={"model": "gpt-4o"})
        print(done.answer, done.timings.speedup)

        async for event in client.stream_session("...", tools=["web_search"]):
            print(event.type)   # llm_turn_started, tool_call_dispatched, ... session_completed
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any

from async_toolformer.agents.tracing import TRACING, headers_for, sending
from async_toolformer.schemas import (
    DEFAULT_TENANT,
    ChatMessage,
    SessionCancelRequested,
    SessionCompleted,
    SessionEvent,
    SessionFailed,
    SessionOptions,
    SessionStarted,
    decode_session_event,
    encode,
)
from async_toolformer.streams.client.exceptions import (
    SessionFailedError,
    SessionTimeoutError,
    published,
)
from async_toolformer.streams.client.follower import TopicFollowers
from async_toolformer.streams.client.partitioning import partition_for
from async_toolformer.streams.client.reader import ConsumerFactory, reading_consumer
from async_toolformer.streams.kafka.publisher import KafkaPublisher
from async_toolformer.streams.kafka.security import PLAINTEXT, KafkaSecurity
from async_toolformer.streams.kafka.topics import TopicCatalogue

__all__ = ["SessionClient"]


class SessionClient:
    """Publishes session requests on ``sessions``; follows ``session-events`` for the answers.

    Sessions at once share one follower per partition (``streams/client/follower.py``):
    starting a session costs no consumer once its partition is followed.
    ``follower_idle_s``, ``consumer_factory`` and ``security`` as for ``ToolformerClient``.
    """

    def __init__(self, bootstrap_servers: str, *, topic_prefix: str = "toolformer.",
                 follower_idle_s: float = 10.0,
                 consumer_factory: ConsumerFactory | None = None,
                 security: KafkaSecurity = PLAINTEXT) -> None:
        self._bootstrap = bootstrap_servers
        self.topics = TopicCatalogue(topic_prefix)
        self._publisher = KafkaPublisher(bootstrap_servers, client_id="toolformer-sessions",
                                         security=security)
        self._followers = TopicFollowers(
            self.topics.session_events, decode_session_event,
            consumer_factory or functools.partial(reading_consumer, bootstrap_servers,
                                                  security=security),
            idle_s=follower_idle_s)
        self._partitions: int | None = None

    async def __aenter__(self) -> SessionClient:
        await self._publisher.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self._followers.close()
        await self._publisher.stop()

    async def run_session(self, prompt: str | None = None, *, tools: Iterable[str] = (),
                          options: SessionOptions | Mapping[str, Any] | None = None,
                          messages: Iterable[ChatMessage] = (), session_id: str | None = None,
                          timeout_s: float = 300.0,
                          tenant: str = DEFAULT_TENANT) -> SessionCompleted:
        """Run one session; return its SessionCompleted or raise SessionFailedError."""
        async for event in self.stream_session(prompt, tools=tools, options=options,
                                               messages=messages, session_id=session_id,
                                               timeout_s=timeout_s, tenant=tenant):
            if isinstance(event, SessionCompleted):
                return event
            if isinstance(event, SessionFailed):
                raise SessionFailedError(event)
        raise SessionTimeoutError("the session's journal ended without an answer")

    async def stream_session(self, prompt: str | None = None, *, tools: Iterable[str] = (),
                             options: SessionOptions | Mapping[str, Any] | None = None,
                             messages: Iterable[ChatMessage] = (), session_id: str | None = None,
                             timeout_s: float = 300.0,
                             tenant: str = DEFAULT_TENANT) -> AsyncIterator[SessionEvent]:
        """Start a session and yield its journal events as they happen, up to its end."""
        request = SessionStarted(
            session_id=session_id or f"session-{uuid.uuid4().hex[:12]}", prompt=prompt,
            messages=tuple(messages), tools=tuple(tools), tenant=tenant,
            options=options if isinstance(options, SessionOptions)
            else SessionOptions.model_validate(dict(options or {})))
        async for event in self.follow(request.session_id, timeout_s=timeout_s,
                                       before=lambda: self._send(request)):
            yield event

    async def follow(self, session_id: str, *, timeout_s: float = 300.0,
                     from_beginning: bool = False,
                     before: Callable[[], Awaitable[None]] | None = None,
                     ) -> AsyncIterator[SessionEvent]:
        """A session's journal events up to its end (``from_beginning``: its whole history).

        ``before`` is awaited once the session is subscribed to (it sends the request):
        every event published after that is seen.
        """
        queue: asyncio.Queue[SessionEvent] = asyncio.Queue()
        follower = self._followers.follower(
            partition_for(session_id, await self._partition_count()))
        waiter = await follower.subscribe(session_id.encode(), queue.put_nowait,
                                          from_beginning=from_beginning)
        try:
            if before is not None:
                await before()
            async with asyncio.timeout(timeout_s):
                while True:
                    event = await queue.get()
                    if getattr(event, "session_id", None) != session_id:
                        continue
                    yield event
                    if isinstance(event, SessionCompleted | SessionFailed):
                        return
        except TimeoutError:
            raise SessionTimeoutError(
                f"session {session_id} did not end within {timeout_s:g}s. Is a worker running "
                f"on the topics {self.topics.prefix}* with the model reachable?") from None
        finally:
            follower.unsubscribe(waiter)

    async def cancel(self, session_id: str, reason: str = "cancelled by the client", *,
                     tenant: str = DEFAULT_TENANT) -> None:
        """End a running session: its calls are cancelled and it fails with ``cancelled``.

        ``tenant`` must be the session's: another tenant's request is ignored.
        """
        await self._send(SessionCancelRequested(session_id=session_id, reason=reason,
                                                tenant=tenant))

    async def _send(self, event: SessionStarted | SessionCancelRequested) -> None:
        if TRACING.on:  # the session's trace starts here (or under the caller's span)
            span = sending(self.topics.sessions, {"gen_ai.conversation.id": event.session_id})
            try:
                accepted = await self._publisher.publish(
                    self.topics.sessions, event.session_id.encode(), encode(event),
                    headers=headers_for(span))
            finally:
                span.end()
        else:
            accepted = await self._publisher.publish(self.topics.sessions,
                                                     event.session_id.encode(), encode(event))
        published(accepted, self.topics.sessions, f"{event.type} of session {event.session_id!r}")

    async def _partition_count(self) -> int:
        if self._partitions is None:
            try:
                parts = await self._publisher.partitions_of(self.topics.session_events)
            except Exception:  # any failure means the same thing here
                parts = set()
            if not parts:
                raise SessionTimeoutError(
                    f"topic {self.topics.session_events} does not exist; start a worker or "
                    "`toolformer dev` first, which create the topics")
            self._partitions = len(parts)
        return self._partitions
