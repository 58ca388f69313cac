"""The console's web server: one page, one stream of server-sent events, nothing to write.

It uses ``aiohttp.web``. aiohttp is not named in the runtime dependencies, but
Faust depends on it, so every install that can run a worker has it; this is the
one module of the runtime path that imports it (an exception in the import
contracts of pyproject.toml).

- ``GET /``: the page (``page.html``, package data), under a Content-Security-
  Policy that allows its own inline script and style by hash and nothing
  fetched from elsewhere;
- ``GET /events``: ``snapshot`` first, then ``session``, ``dead_letter``,
  ``group``, ``limits`` and ``feed`` updates as they happen.

Bound to a loopback address, it answers only requests whose Host is a
loopback name, so a web page elsewhere cannot read it through DNS rebinding.
Nothing it serves comes from the settings.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ipaddress
import re
from collections.abc import Awaitable, Callable
from importlib import resources

from aiohttp import web

from async_toolformer.streams.ops.console.hub import sse_message
from async_toolformer.streams.ops.console.service import ConsoleService

__all__ = ["ConsoleServer", "console_app", "page_html"]

_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
_HOST_PORT = re.compile(r"^(\[[^\]]*\]|[^:]*)(?::\d+)?$")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def page_html() -> str:
    return resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")


def _csp(page: str) -> str:
    """Allow exactly the page's inline script and style, by their sha256."""
    def hashes(tag: str) -> str:
        bodies = re.findall(rf"<{tag}>(.*?)</{tag}>", page, flags=re.DOTALL)
        return " ".join(
            "'sha256-" + base64.b64encode(hashlib.sha256(b.encode()).digest()).decode() + "'"
            for b in bodies)
    return (f"default-src 'none'; script-src {hashes('script')}; style-src {hashes('style')}; "
            "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'")


def console_app(service: ConsoleService, *, loopback_only: bool,
                keepalive_s: float = 15.0) -> web.Application:
    page = page_html()
    headers = {"Content-Security-Policy": _csp(page), "X-Content-Type-Options": "nosniff",
               "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if loopback_only and not _loopback_host(request.host):
            raise web.HTTPMisdirectedRequest(text="this console answers on localhost only\n")
        return await handler(request)

    async def index(_: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html", charset="utf-8",
                            headers=headers)

    async def events(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff", "X-Accel-Buffering": "no"})
        subscription = service.hub.subscribe()  # before the snapshot: nothing falls between
        try:
            await response.prepare(request)
            await response.write(sse_message("snapshot", service.snapshot()))
            while (message := await subscription.next(keepalive_s)) is not None:
                await response.write(message)
        except (ConnectionResetError, asyncio.CancelledError):
            pass  # the page went away
        finally:
            service.hub.unsubscribe(subscription)
        return response

    app = web.Application(middlewares=[guard])
    app.router.add_get("/", index)
    app.router.add_get("/events", events)
    return app


def _loopback_host(host: str) -> bool:
    match = _HOST_PORT.match(host or "")
    name = match.group(1).lower() if match else ""
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


class ConsoleServer:
    """The service and its web app on ``host``:``port`` (0: a free port, see ``port``)."""

    def __init__(self, service: ConsoleService, host: str = "127.0.0.1",
                 port: int = 8765) -> None:
        self.service = service
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    async def start(self) -> None:
        loopback = _loopback_host(self.host)
        app = console_app(self.service, loopback_only=loopback)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        await self.service.start()

    async def stop(self) -> None:
        self.service.hub.close_all()  # open pages' streams end, so the server can stop
        await self.service.stop()
        if self._runner is not None:
            await self._runner.cleanup()
