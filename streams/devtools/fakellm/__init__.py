"""The scripted model server: real HTTP, OpenAI and Anthropic wire formats, no model.

Tests, the demo and the benchmarks talk to it through the official SDKs, so the
whole path (SDK, HTTP, SSE parsing, retries) is the one production uses, with
deterministic answers and controlled latency. See ``script`` for the file format
and ``matching`` for how a request finds its turn.
"""

from async_toolformer.streams.devtools.fakellm.exceptions import ScriptError, ScriptMismatchError
from async_toolformer.streams.devtools.fakellm.matching import TurnSelection, select_turn
from async_toolformer.streams.devtools.fakellm.plan import PlannedCall, ReplyPlan, plan_reply
from async_toolformer.streams.devtools.fakellm.script import (
    Conversation,
    Script,
    ScriptedError,
    ScriptedToolCall,
    ScriptedTurn,
    ScriptedUsage,
    Timing,
    load_script,
)
from async_toolformer.streams.devtools.fakellm.server import (
    Api,
    FakeLLMServer,
    SentChunk,
    ServedRequest,
)

__all__ = [
    "Api",
    "Conversation",
    "FakeLLMServer",
    "PlannedCall",
    "ReplyPlan",
    "Script",
    "ScriptError",
    "ScriptMismatchError",
    "ScriptedError",
    "ScriptedToolCall",
    "ScriptedTurn",
    "ScriptedUsage",
    "SentChunk",
    "ServedRequest",
    "Timing",
    "TurnSelection",
    "load_script",
    "plan_reply",
    "select_turn",
]
