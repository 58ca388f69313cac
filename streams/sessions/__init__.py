"""LLM sessions on the worker and for clients: settings, providers, wiring, the client.

Workers get the session agents from :func:`install_session_agents`; programs
start sessions with :class:`SessionClient`::

    async with SessionClient("localhost:9092") as client:
        done = await client.run_session("Compare Paris and Oslo weather",
                                        tools=["get_weather"])
"""

from .client import SessionClient
from .codec import decode_session_event
from .exceptions import SessionFailedError, SessionTimeoutError
from .follower import journal_follower
from .journal import KafkaJournalSource
from .outbox import KafkaOutbox
from .providers import SettingsProviders
from .settings import LLMSettings
from .wiring import install_session_agents

__all__ = [
    "KafkaJournalSource",
    "KafkaOutbox",
    "LLMSettings",
    "SessionClient",
    "SessionFailedError",
    "SessionTimeoutError",
    "SettingsProviders",
    "decode_session_event",
    "install_session_agents",
    "journal_follower",
]
