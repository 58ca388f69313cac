"""The script format: what the scripted model answers, turn by turn.

A script is JSON. The short form is one conversation::

    {"turns": [
        {"text": "Let me look.", "tool_calls": [
            {"name": "web_search", "arguments": {"query": "kafka"}},
            {"name": "web_search", "raw_arguments": "{\\"query\\": "}]},
        {"text": "Kafka is a log.", "latency_ms": 50, "token_delay_ms": 5}
    ]}

The long form names several conversations and shares timing defaults::

    {"defaults": {"latency_ms": 100, "token_delay_ms": 10, "chunk_chars": 16},
     "conversations": {"search": {"turns": [...]}, "fetch": {"turns": [...]}}}

A turn may answer an HTTP error instead, ``times`` times, before its reply::

    {"error": {"status": 429, "retry_after": 0.05, "times": 1}, "text": "..."}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from async_toolformer.streams.devtools.fakellm.exceptions import ScriptError

__all__ = [
    "Conversation",
    "Script",
    "ScriptedError",
    "ScriptedToolCall",
    "ScriptedTurn",
    "ScriptedUsage",
    "Timing",
    "load_script",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScriptedToolCall(_Frozen):
    """One tool call; ``raw_arguments`` sends a string as is (to script malformed JSON)."""

    name: str = Field(min_length=1)
    arguments: dict[str, Any] | None = None
    raw_arguments: str | None = None
    id: str | None = None

    @model_validator(mode="after")
    def _one_kind_of_arguments(self) -> ScriptedToolCall:
        if self.arguments is not None and self.raw_arguments is not None:
            raise ValueError(f"tool call {self.name!r}: give arguments or raw_arguments, not both")
        return self

    def arguments_json(self) -> str:
        """The arguments exactly as the model will send them."""
        if self.raw_arguments is not None:
            return self.raw_arguments
        return orjson.dumps(self.arguments or {}).decode()


class ScriptedError(_Frozen):
    """An HTTP error answered the first ``times`` times a turn is requested."""

    status: int = Field(ge=400, le=599)
    times: int = Field(default=1, ge=1)
    retry_after: float | None = Field(default=None, ge=0)
    message: str | None = None


class ScriptedUsage(_Frozen):
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)


class Timing(_Frozen):
    """How fast the model answers: before the first byte, and between streamed chunks."""

    latency_ms: float = Field(default=0.0, ge=0)
    token_delay_ms: float = Field(default=0.0, ge=0)
    chunk_chars: int = Field(default=16, ge=1)


class ScriptedTurn(_Frozen):
    """One assistant turn. Unset timing fields fall back to the script's defaults."""

    text: str = ""
    tool_calls: tuple[ScriptedToolCall, ...] = ()
    latency_ms: float | None = Field(default=None, ge=0)
    token_delay_ms: float | None = Field(default=None, ge=0)
    chunk_chars: int | None = Field(default=None, ge=1)
    usage: ScriptedUsage | None = None
    error: ScriptedError | None = None

    def timing(self, defaults: Timing) -> Timing:
        """This turn's timing with the defaults filled in."""
        return Timing(
            latency_ms=defaults.latency_ms if self.latency_ms is None else self.latency_ms,
            token_delay_ms=(
                defaults.token_delay_ms if self.token_delay_ms is None else self.token_delay_ms
            ),
            chunk_chars=defaults.chunk_chars if self.chunk_chars is None else self.chunk_chars,
        )


class Conversation(_Frozen):
    turns: tuple[ScriptedTurn, ...] = Field(min_length=1)


class Script(_Frozen):
    """Named conversations; a request picks one (see ``matching``) and then a turn."""

    conversations: dict[str, Conversation] = Field(min_length=1)
    defaults: Timing = Timing()

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        if isinstance(data, dict) and "turns" in data and "conversations" not in data:
            rest = {key: value for key, value in data.items() if key != "turns"}
            return {**rest, "conversations": {"default": {"turns": data["turns"]}}}
        return data


def load_script(source: Script | Path | str | dict[str, Any]) -> Script:
    """A script from a model, a JSON file path, or already-parsed JSON."""
    if isinstance(source, Script):
        return source
    if isinstance(source, dict):
        data: Any = source
        where = "the script"
    else:
        path = Path(source)
        where = str(path)
        try:
            data = orjson.loads(path.read_bytes())
        except OSError as exc:
            raise ScriptError(f"cannot read script {where}: {exc}") from exc
        except orjson.JSONDecodeError as exc:
            raise ScriptError(f"script {where} is not valid JSON: {exc}") from exc
    try:
        return Script.model_validate(data)
    except ValidationError as exc:
        raise ScriptError(
            f"{where} does not fit the script format "
            f"(see async_toolformer.streams.devtools.fakellm.script):\n{exc}"
        ) from exc
