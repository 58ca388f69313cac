"""``fingerprint_of`` hashes exactly what ``json.dumps`` of the parts would write."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from async_toolformer.agents.executor.identity import (
    arguments_digest,
    call_fingerprint,
    fingerprint_of,
)
from async_toolformer.schemas import ToolCallRequested


@pytest.mark.parametrize(("tenant", "session", "tool", "arguments"), [
    ("default", "s1", "echo", {"i": 5}),
    ("ténant", 'se"ss\\ion', "t\u2028ool", {"b": [1, 2.5, None], "a": {"z": "é"}}),
    ("t", "s\n\t\x00", "🔧", {}),
])
def test_the_same_as_json_dumps_of_the_parts(tenant: str, session: str, tool: str,
                                             arguments: dict[str, Any]) -> None:
    text = json.dumps([tenant, session, tool, arguments_digest(arguments)], ensure_ascii=True)

    assert fingerprint_of(tenant, session, tool, arguments) == \
        hashlib.sha256(text.encode()).hexdigest()[:32]
    request = ToolCallRequested(call_id="c", session_id=session.strip() or "s", tool=tool,
                                tenant=tenant, arguments=arguments)
    assert call_fingerprint(request) == fingerprint_of(
        request.tenant, request.session_id, request.tool, request.arguments)
