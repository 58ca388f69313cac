"""Errors of the execution ledger; each says what happened and what to do."""

from __future__ import annotations

from typing import ClassVar

from async_toolformer.schemas.exceptions import ToolformerError
from async_toolformer.streams.exceptions import ConfigurationError, ServiceUnavailableError

__all__ = ["LedgerConfigError", "LedgerEntryError", "LedgerError", "LedgerUnavailableError"]


class LedgerError(ToolformerError):
    """Base of the errors the execution ledger raises on purpose."""


class LedgerUnavailableError(LedgerError, ServiceUnavailableError):
    """Redis did not answer a ledger operation; no call may start without a claim."""

    retriable: ClassVar[bool] = True

    def __init__(self, url: str, cause: BaseException) -> None:
        super().__init__(
            f"the execution ledger's Redis at {url} did not answer ({cause}). "
            "Check that Redis is running and reachable there, or point REDIS_URL at one; "
            "calls are not started until the ledger answers, so none is run twice."
        )
        self.url = url


class LedgerConfigError(LedgerError, ConfigurationError):
    """The ledger was built with settings it cannot work with."""


class LedgerEntryError(LedgerError):
    """A ledger key holds something the ledger did not write."""

    def __init__(self, key: str, detail: str) -> None:
        super().__init__(
            f"ledger key {key!r} {detail}. Another program writes under the ledger's key "
            "prefix: give the ledger its own namespace or Redis database."
        )
        self.key = key
