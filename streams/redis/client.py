"""The worker's Redis client: redis-py asyncio, with commands packed by hiredis.

redis-py's asyncio connection packs a command in Python and copies its growing
buffer once per argument. The ledger and the limiter send a batch as one
``EVALSHA`` with a few arguments per call, so packing cost more of the
worker's time than the scripts themselves. hiredis, already installed for its
reply parser, packs the same bytes in C (str as UTF-8, as redis-py does by
default). Anything hiredis will not take (a bool, None), a two-word command
name, or a client configured with another encoding goes through redis-py's own
packer, so its bytes and errors stay redis-py's.

Socket timeouts are always set (redis-py sets none): a Redis that stops
answering without closing the connection would otherwise hang a ledger call,
and the worker's partition with it, until the kernel gives up.
"""

from __future__ import annotations

from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection

__all__ = ["CONNECT_TIMEOUT_S", "SOCKET_TIMEOUT_S", "redis_client"]

SOCKET_TIMEOUT_S = 5.0  # a command's reply; the ledger's batches take milliseconds
CONNECT_TIMEOUT_S = 2.0


class _HiredisPacking:
    """Mixin over a redis-py asyncio connection class."""

    encoder: Any

    def pack_command(self, *args: Any) -> list[bytes]:
        command, encoder = args[0], self.encoder
        if (isinstance(command, str) and " " not in command and encoder.encoding == "utf-8"
                and encoder.encoding_errors == "strict"):
            try:
                return [hiredis.pack_command(args)]
            except TypeError:
                pass
        packed: list[bytes] = super().pack_command(*args)  # type: ignore[misc]
        return packed


class _PackedConnection(_HiredisPacking, Connection):
    pass


class _PackedSSLConnection(_HiredisPacking, SSLConnection):
    pass


class _PackedUnixConnection(_HiredisPacking, UnixDomainSocketConnection):
    pass


_PACKED: dict[type[Any], type[Any]] = {
    Connection: _PackedConnection,
    SSLConnection: _PackedSSLConnection,
    UnixDomainSocketConnection: _PackedUnixConnection,
}


def redis_client(url: str, **options: Any) -> Redis:
    """``Redis.from_url(url, **options)`` whose connections pack commands with hiredis.

    ``socket_timeout`` and ``socket_connect_timeout`` default to
    :data:`SOCKET_TIMEOUT_S` and :data:`CONNECT_TIMEOUT_S` (the URL's own win).
    """
    options.setdefault("socket_timeout", SOCKET_TIMEOUT_S)
    options.setdefault("socket_connect_timeout", CONNECT_TIMEOUT_S)
    client = Redis.from_url(url, **options)
    pool = client.connection_pool
    pool.connection_class = _PACKED.get(pool.connection_class, pool.connection_class)
    return client
