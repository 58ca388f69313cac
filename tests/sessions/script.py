"""The scripted model the session tests talk to: one conversation per test, chosen by model name."""

from __future__ import annotations

from typing import Any


def _sleep(ms: int) -> dict[str, Any]:
    return {"name": "sleep", "arguments": {"ms": ms}}


SCRIPT: dict[str, Any] = {
    "defaults": {"latency_ms": 5, "token_delay_ms": 1, "chunk_chars": 16},
    "conversations": {
        "two_turns": {"turns": [
            {"text": "Let me look.", "tool_calls": [_sleep(300), _sleep(250),
                                                   {"name": "echo", "arguments": {"x": 1}}]},
            {"tool_calls": [_sleep(200), _sleep(150)]},
            {"text": "All done: 42."},
        ]},
        "streaming": {"turns": [
            {"text": "ok", "token_delay_ms": 40, "tool_calls": [
                _sleep(50), _sleep(50), _sleep(50), _sleep(50), _sleep(50),
                {"name": "echo", "arguments": {"padding": "x" * 64}}]},
            {"text": "streamed."},
        ]},
        "malformed": {"turns": [
            {"tool_calls": [
                {"name": "sleep", "raw_arguments": '{"ms": '},
                {"name": "no_such_tool", "arguments": {"a": 1}},
                {"name": "sleep", "arguments": {"ms": "soon"}},
                {"name": "echo", "arguments": {"fine": True}},
            ]},
            {"text": "recovered."},
        ]},
        "rate_limited": {"turns": [
            {"error": {"status": 429, "retry_after": 0.05, "times": 1}, "text": "after a 429."},
        ]},
        "race": {"turns": [
            {"tool_calls": [{"name": "nap", "arguments": {"ms": 5000}},
                            _sleep(100),
                            {"name": "nap", "arguments": {"ms": 4000}}]},
            {"text": "the fast one won."},
        ]},
        "deadline": {"turns": [
            {"tool_calls": [_sleep(5000)]},
            {"text": "never reached."},
        ]},
        "ledgered": {"turns": [
            {"tool_calls": [{"name": "charge", "arguments": {"account": "llm-ledger",
                                                             "cents": 5}}, _sleep(50)]},
            {"text": "charged once."},
        ]},
        "restart": {"turns": [
            {"tool_calls": [_sleep(100), _sleep(150)]},
            {"latency_ms": 2500, "text": "resumed and answered."},
        ]},
    },
}
