"""The client API: submit calls, get results in order or as they finish, cancel."""

from .client import ToolformerClient
from .partitioning import partition_for

__all__ = ["ToolformerClient", "partition_for"]
