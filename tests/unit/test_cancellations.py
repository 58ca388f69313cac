"""CancellationBook: remembered per branch or session, for a while, bounded."""

from __future__ import annotations

from async_toolformer.agents.executor import CancellationBook
from async_toolformer.schemas import BranchCancelled, SessionCancelled


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_branch_and_session_cancellations() -> None:
    book = CancellationBook()
    book.record(BranchCancelled(session_id="s", branch_id="b", reason="lost the race"))
    assert book.reason("s", "b") == "lost the race"
    assert book.reason("s", "other") is None
    book.record(SessionCancelled(session_id="s", reason="user left"))
    assert book.reason("s", "other") == "user left"


def test_entries_expire_and_the_book_is_bounded() -> None:
    clock = Clock()
    book = CancellationBook(ttl_s=10, max_entries=2, clock=clock)
    book.record(SessionCancelled(session_id="a"))
    book.record(SessionCancelled(session_id="b"))
    book.record(SessionCancelled(session_id="c"))
    assert len(book) == 2
    assert book.reason("a", "main") is None  # the oldest was forgotten
    clock.now = 11
    assert book.reason("c", "main") is None
