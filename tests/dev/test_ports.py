from __future__ import annotations

import socket

from async_toolformer.streams.devtools.stack.ports import LOOPBACK, free_port


def test_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind((LOOPBACK, port))
        assert sock.getsockname()[1] == port


def test_free_port_is_not_always_the_same() -> None:
    assert len({free_port() for _ in range(5)}) > 1
