"""The client API: submit calls, get results in order or as they finish, cancel; run sessions.

    async with SessionClient("localhost:9092") as client:
        done = await client.run_session("Compare Paris and Oslo weather",
                                        tools=["get_weather"])
"""

from async_toolformer.streams.client.client import ToolformerClient
from async_toolformer.streams.client.exceptions import (
    PublishRefusedError,
    SessionFailedError,
    SessionTimeoutError,
)
from async_toolformer.streams.client.partitioning import partition_for
from async_toolformer.streams.client.sessions import SessionClient

__all__ = [
    "PublishRefusedError",
    "SessionClient",
    "SessionFailedError",
    "SessionTimeoutError",
    "ToolformerClient",
    "partition_for",
]
