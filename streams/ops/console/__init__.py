"""A live, read-only web console: sessions and their calls, the worker group, limits, dead letters.

``toolformer console`` runs it. :class:`ConsoleService` reads the topics (no
consumer group, from their end or a given offset) and, on clocks of their own,
the group's status, the rate limits and the ledger's leases;
:class:`ConsoleServer` serves one self-contained page that server-sent events
keep up to date. It needs only ``KAFKA_BOOTSTRAP_SERVERS`` (and ``REDIS_URL``
for limits and running calls), so it works against ``toolformer dev`` and a
real cluster alike. Nothing it serves comes from the settings.

    server = ConsoleServer(ConsoleService(Settings(), ConsoleOptions()), "127.0.0.1", 8765)
    await server.start()
"""

from async_toolformer.streams.ops.console.server import ConsoleServer, console_app, page_html
from async_toolformer.streams.ops.console.service import ConsoleOptions, ConsoleService
from async_toolformer.streams.ops.console.state import ConsoleState

__all__ = ["ConsoleOptions", "ConsoleServer", "ConsoleService", "ConsoleState", "console_app",
           "page_html"]
