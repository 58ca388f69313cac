"""Commands packed by hiredis are the bytes redis-py would have sent."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio.connection import Connection, UnixDomainSocketConnection
from redis.exceptions import DataError

from async_toolformer.streams.redis.client import _PackedConnection, redis_client

COMMANDS: list[tuple[Any, ...]] = [
    ("EVALSHA", "f" * 40, 2, "toolformer:ledger:ns:c-1", "k2", "", 86_400_000, "w-1", 10_000),
    ("SET", "key", b"\x00raw\xffbytes", "PX", 1_000),
    ("HSET", "h", "tok", "1733000000000", "own", "worker-ü", "exp", 0.25),
    ("ZADD", "z", 1e20, "m", -3, "n", 2**70, "o"),
    ("CONFIG GET", "maxmemory"),  # a two-word command name goes through redis-py
]


@pytest.mark.parametrize("command", COMMANDS)
def test_packs_the_same_bytes_as_redis_py(command: tuple[Any, ...]) -> None:
    assert b"".join(_PackedConnection().pack_command(*command)) == b"".join(
        Connection().pack_command(*command))


def test_what_hiredis_refuses_fails_as_redis_py_says() -> None:
    with pytest.raises(DataError, match="bool"):
        _PackedConnection().pack_command("SET", "key", True)


def test_the_client_keeps_the_url_kind_of_connection() -> None:
    tcp = redis_client("redis://127.0.0.1:6379/0")
    unix = redis_client("unix:///tmp/redis.sock")
    assert issubclass(tcp.connection_pool.connection_class, _PackedConnection)
    assert issubclass(unix.connection_pool.connection_class, UnixDomainSocketConnection)
    assert unix.connection_pool.connection_class is not UnixDomainSocketConnection


def test_a_client_with_another_encoding_is_packed_by_redis_py() -> None:
    command = ("SET", "clé", "é")
    latin = _PackedConnection(encoding="latin-1")
    assert b"".join(latin.pack_command(*command)) == b"".join(
        Connection(encoding="latin-1").pack_command(*command))
    assert b"\xe9" in b"".join(latin.pack_command(*command))
