"""Anthropic Messages through the official SDK.

429, 5xx and 529 (overloaded) answers are retried by the SDK itself
(``max_retries``), with exponential backoff that honours ``retry-after``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, Self, cast

import anthropic
from anthropic.types import MessageParam, ToolUnionParam

from ._errors import provider_error
from .anthropic_assembler import AnthropicStreamAssembler, events_from_message
from .anthropic_wire import anthropic_messages, anthropic_tools
from .base import ms_since, relay_stream
from .events import ProviderEvent
from .exceptions import ProviderAuthError
from .messages import TurnRequest

__all__ = ["AnthropicMessagesProvider"]


class AnthropicMessagesProvider:
    """An :class:`LLMProvider` on ``anthropic.AsyncAnthropic``.

    ``base_url`` is the server root (the SDK adds ``/v1/messages``).
    ``max_tokens`` is required by the API; a request's own value wins.
    """

    provider = "anthropic"

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        model: str = "claude-sonnet-4-5",
        *,
        streaming: bool = True,
        max_tokens: int = 4096,
        max_retries: int = 3,
        timeout_s: float = 120.0,
        client: anthropic.AsyncAnthropic | None = None,
    ) -> None:
        self.model = model
        self.streaming = streaming
        self.max_tokens = max_tokens
        self.max_retries = max_retries
        self._client = client or anthropic.AsyncAnthropic(
            base_url=base_url, api_key=api_key, max_retries=max_retries, timeout=timeout_s
        )
        self._where = f"the Anthropic API at {self._client.base_url} (model {model!r})"

    async def stream_turn(self, request: TurnRequest) -> AsyncIterator[ProviderEvent]:
        started = time.perf_counter()
        try:
            if self.streaming:
                async for event in self._streamed(request, started):
                    yield event
            else:
                message = await self._client.messages.create(**self._arguments(request))
                for event in events_from_message(message, ms_since(started)):
                    yield event
        except anthropic.APIError as exc:
            raise provider_error(
                self._where,
                exc.status_code if isinstance(exc, anthropic.APIStatusError) else None,
                exc.message,
                max_retries=self.max_retries,
                timed_out=isinstance(exc, anthropic.APITimeoutError),
                unreachable=isinstance(exc, anthropic.APIConnectionError),
            ) from exc
        except TypeError as exc:
            if "authentication" not in str(exc).lower():
                raise
            raise ProviderAuthError(
                f"no Anthropic credentials: pass api_key or set ANTHROPIC_API_KEY ({exc})"
            ) from exc

    async def _streamed(self, request: TurnRequest, started: float) -> AsyncIterator[ProviderEvent]:
        stream = await self._client.messages.create(**self._arguments(request), stream=True)
        async for event in relay_stream(stream, AnthropicStreamAssembler(), started):
            yield event

    def _arguments(self, request: TurnRequest) -> dict[str, Any]:
        """The Messages API arguments of one turn, streamed or not."""
        system, messages = anthropic_messages(request.messages)
        return {
            "model": self.model,
            "max_tokens": request.max_tokens or self.max_tokens,
            "messages": cast("list[MessageParam]", messages),
            "system": system if system is not None else anthropic.omit,
            "tools": _tools(request),
            "extra_body": _extra_body(request),
        }

    async def aclose(self) -> None:
        await self._client.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _tools(request: TurnRequest) -> list[ToolUnionParam] | anthropic.Omit:
    if not request.tools:
        return anthropic.omit
    return cast("list[ToolUnionParam]", anthropic_tools(request.tools))


def _extra_body(request: TurnRequest) -> dict[str, Any] | None:
    # newer SDKs dropped the temperature keyword; the API still takes the field
    return None if request.temperature is None else {"temperature": request.temperature}

