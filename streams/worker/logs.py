"""Log lines as JSON, one object a line, joined up by call, session, tenant and worker.

``TOOLFORMER_LOG_FORMAT=json`` makes the CLI log this way; an embedded worker
gets the same lines by putting :func:`log_handler` ``("json")`` on its logger.
Each line has ``timestamp`` (UTC, ISO 8601), ``level``, ``logger`` and
``message``, the ``exception`` text when there is one, and whichever of
``call_id``, ``session_id``, ``tenant`` and ``worker_id`` the code that logged
was handling (:mod:`async_toolformer.agents.log_context`). ``trace_id`` and
``span_id`` come from OpenTelemetry's current span when ``opentelemetry-api``
is installed and a span is recording; without it they are left out.

Nothing of the settings is logged here: a line holds only what the code logged.
"""

from __future__ import annotations

import importlib
import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

from async_toolformer.agents.log_context import log_fields

__all__ = ["LOG_FORMATS", "TEXT_FORMAT", "JsonLogFormatter", "log_formatter", "log_handler"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_FORMATS = ("text", "json")


class JsonLogFormatter(logging.Formatter):
    """One JSON object per record; never raises on what a record holds."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="microseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(log_fields())
        line.update(_trace_fields())
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(line, default=str).decode()


def log_formatter(name: str) -> logging.Formatter:
    """The formatter of ``text`` or ``json``; ValueError for any other name."""
    chosen = name.strip().lower()
    if chosen == "json":
        return JsonLogFormatter()
    if chosen == "text":
        return logging.Formatter(TEXT_FORMAT)
    raise ValueError(f"TOOLFORMER_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, "
                     f"not {name[:40]!r}")


def log_handler(name: str = "text") -> logging.Handler:
    """A handler writing to stderr in the format ``name`` (see :func:`log_formatter`)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(log_formatter(name))
    return handler


_otel_trace: Any = None
_otel_looked = False


def _trace_fields() -> dict[str, str]:
    """trace_id and span_id of OpenTelemetry's current span, if installed and valid."""
    global _otel_trace, _otel_looked  # noqa: PLW0603 - looked up once per process
    if not _otel_looked:
        _otel_looked = True
        try:
            _otel_trace = importlib.import_module("opentelemetry.trace")
        except ImportError:
            _otel_trace = None
    if _otel_trace is None:
        return {}
    try:
        context = _otel_trace.get_current_span().get_span_context()
        if not context.is_valid:
            return {}
        return {"trace_id": format(context.trace_id, "032x"),
                "span_id": format(context.span_id, "016x")}
    except Exception:  # a broken tracing install must not cost a log line
        return {}
