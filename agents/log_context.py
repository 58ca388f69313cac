"""What a log line is about: the call, session, tenant and worker being handled.

Context variables, so each task carries its own: the executor binds a call in
the task that runs it, the session runtime gives a model turn's task its
session, the worker binds its id once. A log formatter (the JSON one of
``toolformer worker``) reads them with :func:`log_fields`; nothing here
formats or writes a line. Binding costs a tuple and a ``ContextVar.set``, cheap
enough for every call.
"""

from __future__ import annotations

import contextvars
from contextvars import ContextVar, Token

__all__ = ["CallFields", "bind_call", "bind_worker", "log_fields", "session_context", "unbind"]

CallFields = tuple[str | None, str | None, str | None]
"""(call_id, session_id, tenant); None where not known."""

_NONE: CallFields = (None, None, None)
_call: ContextVar[CallFields] = ContextVar("toolformer_log_call", default=_NONE)
_worker: ContextVar[str | None] = ContextVar("toolformer_log_worker", default=None)


def bind_call(call_id: str | None, session_id: str | None,
              tenant: str | None = None) -> Token[CallFields]:
    """Log lines of this task (and tasks it starts) are about this call; undo with unbind."""
    return _call.set((call_id, session_id, tenant))


def unbind(token: Token[CallFields]) -> None:
    _call.reset(token)


def session_context(session_id: str, tenant: str | None = None) -> contextvars.Context:
    """A copy of the current context about ``session_id``, for a task of that session."""
    context = contextvars.copy_context()
    context.run(_call.set, (None, session_id, tenant))
    return context


def bind_worker(worker_id: str) -> Token[str | None]:
    """Log lines of this task (and tasks it starts) come from ``worker_id``."""
    return _worker.set(worker_id)


def log_fields() -> dict[str, str]:
    """The known fields of the current context, by name; empty when nothing is bound."""
    call_id, session_id, tenant = _call.get()
    worker_id = _worker.get()
    fields: dict[str, str] = {}
    if call_id is not None:
        fields["call_id"] = call_id
    if session_id is not None:
        fields["session_id"] = session_id
    if tenant is not None:
        fields["tenant"] = tenant
    if worker_id is not None:
        fields["worker_id"] = worker_id
    return fields
