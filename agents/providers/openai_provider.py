"""OpenAI Chat Completions through the official SDK; any compatible server works
(Azure OpenAI, vLLM, Ollama, LiteLLM) by pointing ``base_url`` at it.

429 and 5xx answers are retried by the SDK itself (``max_retries``), with
exponential backoff that honours ``retry-after`` / ``retry-after-ms``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Self, cast

import openai
from openai.types.chat import ChatCompletionStreamOptionsParam, ChatCompletionToolUnionParam

from ._errors import provider_error
from .base import ms_since
from .events import ProviderEvent
from .exceptions import ProviderAuthError, ProviderError
from .messages import TurnRequest
from .openai_assembler import OpenAIStreamAssembler, events_from_completion
from .openai_wire import openai_messages
from .sse import sse_payloads

__all__ = ["OpenAIChatProvider"]

_USAGE_IN_STREAM: ChatCompletionStreamOptionsParam = {"include_usage": True}


class OpenAIChatProvider:
    """An :class:`LLMProvider` on ``openai.AsyncOpenAI``.

    ``stream_usage`` asks for token usage in the stream (``stream_options``); turn
    it off for servers that reject that option.
    """

    provider = "openai"

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        model: str = "gpt-4o-mini",
        *,
        streaming: bool = True,
        max_retries: int = 3,
        timeout_s: float = 120.0,
        stream_usage: bool = True,
        client: openai.AsyncOpenAI | None = None,
    ) -> None:
        self.model = model
        self.streaming = streaming
        self.max_retries = max_retries
        self._stream_usage = stream_usage
        try:
            self._client = client or openai.AsyncOpenAI(
                base_url=base_url, api_key=api_key, max_retries=max_retries, timeout=timeout_s
            )
        except openai.OpenAIError as exc:
            raise ProviderAuthError(
                f"no OpenAI API key: pass api_key or set OPENAI_API_KEY ({exc})"
            ) from exc
        self._where = f"the OpenAI-compatible API at {self._client.base_url} (model {model!r})"

    async def stream_turn(self, request: TurnRequest) -> AsyncIterator[ProviderEvent]:
        started = time.perf_counter()
        try:
            if self.streaming:
                async for event in self._streamed(request, started):
                    yield event
            else:
                completion = await self._client.chat.completions.create(
                    model=self.model,
                    messages=openai_messages(request.messages),
                    tools=_tools(request),
                    max_tokens=request.max_tokens if request.max_tokens else openai.omit,
                    temperature=request.temperature
                    if request.temperature is not None
                    else openai.omit,
                )
                for event in events_from_completion(completion, ms_since(started)):
                    yield event
        except openai.APIError as exc:
            raise provider_error(
                self._where,
                exc.status_code if isinstance(exc, openai.APIStatusError) else None,
                exc.message,
                max_retries=self.max_retries,
                timed_out=isinstance(exc, openai.APITimeoutError),
                unreachable=isinstance(exc, openai.APIConnectionError),
            ) from exc

    async def _streamed(self, request: TurnRequest, started: float) -> AsyncIterator[ProviderEvent]:
        """The SDK sends the request (auth, retries, status errors); the body's events are
        read as plain JSON (:mod:`.sse`), which costs a fraction of the SDK's typed chunks."""
        assembler = OpenAIStreamAssembler()
        async with self._client.chat.completions.with_streaming_response.create(
            model=self.model,
            messages=openai_messages(request.messages),
            tools=_tools(request),
            max_tokens=request.max_tokens if request.max_tokens else openai.omit,
            temperature=request.temperature if request.temperature is not None else openai.omit,
            stream=True,
            stream_options=_USAGE_IN_STREAM if self._stream_usage else openai.omit,
        ) as response:
            try:
                async for payload in sse_payloads(response.iter_lines()):
                    for event in assembler.feed(payload):
                        yield event
            except ProviderError as exc:  # an error event, or not a stream of JSON objects
                raise provider_error(self._where, None, str(exc),
                                     max_retries=self.max_retries) from exc
            except (openai.APIError, GeneratorExit, asyncio.CancelledError):
                raise
            except Exception as exc:  # the connection failed while the body was read
                raise openai.APIConnectionError(message=f"the stream broke: {exc!r}",
                                                request=response.http_request) from exc
        for event in assembler.finish(ms_since(started)):
            yield event

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


def _tools(request: TurnRequest) -> list[ChatCompletionToolUnionParam] | openai.Omit:
    # the registry's schemas are already in this shape; the SDK types are TypedDicts
    return (
        cast("list[ChatCompletionToolUnionParam]", list(request.tools))
        if request.tools
        else openai.omit
    )

