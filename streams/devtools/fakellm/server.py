"""The scripted model server: OpenAI- and Anthropic-compatible endpoints over real HTTP.

``POST /v1/chat/completions`` and ``POST /v1/messages`` answer from a script
(see ``script``), plain or streamed, after the turn's latency and with its delay
between chunks. A plain answer takes as long as the stream would have, so
streaming and non-streaming runs can be compared fairly. Which turn answers a
request is decided by ``matching``; the only state kept is how often each
scripted error was answered and a log of requests for tests, both bounded
(``max_logged``: the oldest entries go first), so a long benchmark or a client
sending endless prompts cannot grow the server without end::

    async with FakeLLMServer("script.json") as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="x")
        anthropic_client = anthropic.AsyncAnthropic(base_url=server.root_url, api_key="x")
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import orjson
from aiohttp import web

from async_toolformer.streams.devtools.fakellm import anthropic_format, openai_format
from async_toolformer.streams.devtools.fakellm.exceptions import ScriptMismatchError
from async_toolformer.streams.devtools.fakellm.matching import (
    TurnSelection,
    content_text,
    select_turn,
)
from async_toolformer.streams.devtools.fakellm.plan import ReplyPlan, plan_reply
from async_toolformer.streams.devtools.fakellm.script import Script, load_script

__all__ = ["Api", "FakeLLMServer", "SentChunk", "ServedRequest"]

Api = Literal["openai", "anthropic"]


@dataclass(frozen=True, slots=True)
class ServedRequest:
    """One request as the server saw and answered it (``received_at``: monotonic s;
    ``number``: its place among all requests served, from 0)."""

    api: Api
    conversation: str | None
    turn_index: int | None
    stream: bool
    status: int
    body: dict[str, Any]
    received_at: float
    number: int = 0


@dataclass(frozen=True, slots=True)
class SentChunk:
    """One streamed chunk written to the socket; ``request`` is its request's ``number``
    (its index in ``requests`` while the log has not dropped any)."""

    api: Api
    request: int
    index: int
    last: bool


class FakeLLMServer:
    """Serve a script on ``host:port`` (0 picks a free port) while the context is open.

    ``api_key``, when set, makes requests with another key fail with 401 as the
    real APIs do. ``on_chunk`` is called after each streamed chunk is written, so
    a test can put the server's progress and the client's events on one timeline.
    ``max_logged`` bounds the request log and the count of scripted errors served.
    """

    def __init__(
        self,
        script: Script | Path | str | dict[str, Any],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_key: str | None = None,
        on_chunk: Callable[[SentChunk], None] | None = None,
        max_logged: int = 10_000,
    ) -> None:
        self.script = load_script(script)
        self.host = host
        self._port = port
        self._api_key = api_key
        self._on_chunk = on_chunk
        self._errors_served: Counter[tuple[str, str, str, int]] = Counter()
        self._max_logged = max_logged
        self._runner: web.AppRunner | None = None
        self.requests: list[ServedRequest] = []
        self._served = 0  # requests logged, dropped ones included

    @property
    def port(self) -> int:
        if self._runner is None:
            raise RuntimeError("the server is not running; use `async with FakeLLMServer(...)`")
        return int(self._runner.addresses[0][1])

    @property
    def root_url(self) -> str:
        """The server root: what ``anthropic.AsyncAnthropic(base_url=...)`` wants."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The ``/v1`` URL: what ``openai.AsyncOpenAI(base_url=...)`` wants."""
        return f"{self.root_url}/v1"

    def reset(self) -> None:
        """Forget served errors and logged requests, as if freshly started."""
        self._errors_served.clear()
        self.requests.clear()
        self._served = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._openai)
        app.router.add_post("/v1/messages", self._anthropic)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self._port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- handlers ---------------------------------------------------------------

    async def _openai(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "openai")

    async def _anthropic(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "anthropic")

    async def _serve(self, request: web.Request, api: Api) -> web.StreamResponse:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            return self._error(api, {}, None, 400, "the request body must be a JSON object")
        if self._api_key is not None and _api_key_of(request, api) != self._api_key:
            return self._error(api, body, None, 401, "invalid API key")
        try:
            selection = select_turn(
                self.script, str(body.get("model", "")), body.get("messages") or []
            )
        except ScriptMismatchError as exc:
            return self._error(api, body, None, 400, str(exc))
        error = selection.turn.error
        key = (api, selection.conversation, selection.instance, selection.turn_index)
        if error is not None and self._errors_served[key] < error.times:
            self._errors_served[key] += 1
            if len(self._errors_served) > self._max_logged:  # the oldest instance goes
                del self._errors_served[next(iter(self._errors_served))]
            headers = {} if error.retry_after is None else {"retry-after": str(error.retry_after)}
            message = error.message or f"scripted error {error.status}"
            return self._error(api, body, selection, error.status, message, headers=headers)

        stream = bool(body.get("stream"))
        self._log(api, body, selection, 200, stream=stream)
        plan = plan_reply(
            selection,
            self.script.defaults,
            id_prefix="call_" if api == "openai" else "toolu_",
            prompt_chars=_prompt_chars(body),
        )
        frames = _frames(api, plan, selection, body, stream=True)
        if not stream:
            # as long as the stream would take: latency, then a delay between chunks
            await asyncio.sleep(plan.latency_s + plan.token_delay_s * (len(frames) - 1))
            plain = _frames(api, plan, selection, body, stream=False)[0]
            return web.Response(body=plain, content_type="application/json")
        return await self._stream(request, api, plan, frames)

    async def _stream(
        self, request: web.Request, api: Api, plan: ReplyPlan, frames: list[bytes]
    ) -> web.StreamResponse:
        number = self._served - 1
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await asyncio.sleep(plan.latency_s)
        try:
            await response.prepare(request)
            for index, frame in enumerate(frames):
                if index and plan.token_delay_s:
                    await asyncio.sleep(plan.token_delay_s)
                await response.write(frame)
                if self._on_chunk is not None:
                    self._on_chunk(SentChunk(api, number, index, index == len(frames) - 1))
            await response.write_eof()
        except ConnectionResetError:
            pass  # the client went away mid-stream (cancelled); nothing to answer
        return response

    def _error(
        self,
        api: Api,
        body: dict[str, Any],
        selection: TurnSelection | None,
        status: int,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> web.Response:
        self._log(api, body, selection, status, stream=bool(body.get("stream")))
        payload = (
            openai_format.error_body(status, message)
            if api == "openai"
            else anthropic_format.error_body(status, message)
        )
        return web.Response(
            status=status,
            body=orjson.dumps(payload),
            content_type="application/json",
            headers=headers,
        )

    def _log(
        self,
        api: Api,
        body: dict[str, Any],
        selection: TurnSelection | None,
        status: int,
        *,
        stream: bool,
    ) -> None:
        self.requests.append(
            ServedRequest(
                api=api,
                conversation=selection.conversation if selection else None,
                turn_index=selection.turn_index if selection else None,
                stream=stream,
                status=status,
                body=body,
                received_at=time.monotonic(),
                number=self._served,
            )
        )
        self._served += 1
        if len(self.requests) > self._max_logged:
            del self.requests[0]  # a memmove of at most max_logged pointers


def _frames(
    api: Api, plan: ReplyPlan, selection: TurnSelection, body: dict[str, Any], *, stream: bool
) -> list[bytes]:
    """The bytes to send: one JSON body, or each SSE frame (the stream's end included)."""
    model = str(body.get("model", "scripted"))
    if api == "openai":
        reply_id = f"chatcmpl-{selection.instance}{selection.turn_index}"
        created = int(time.time())
        if not stream:
            return [
                orjson.dumps(
                    openai_format.completion_body(
                        plan, reply_id=reply_id, model=model, created=created
                    )
                )
            ]
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        chunks = openai_format.completion_chunks(
            plan, reply_id=reply_id, model=model, created=created, include_usage=include_usage
        )
        return [b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in chunks] + [
            b"data: [DONE]\n\n"
        ]
    reply_id = f"msg_{selection.instance}_{selection.turn_index}"
    if not stream:
        return [orjson.dumps(anthropic_format.message_body(plan, reply_id=reply_id, model=model))]
    return [
        f"event: {name}\n".encode() + b"data: " + orjson.dumps(data) + b"\n\n"
        for name, data in anthropic_format.message_events(plan, reply_id=reply_id, model=model)
    ]


def _api_key_of(request: web.Request, api: Api) -> str | None:
    if api == "anthropic":
        return request.headers.get("x-api-key")
    authorization = request.headers.get("Authorization", "")
    return authorization.removeprefix("Bearer ") if authorization.startswith("Bearer ") else None


def _prompt_chars(body: dict[str, Any]) -> int:
    messages = body.get("messages") or []
    total = len(content_text(body.get("system")))
    for message in messages:
        if isinstance(message, dict):
            total += len(content_text(message.get("content")))
    return total
