"""Which turn of the script answers a request: pure, so the server stays stateless.

The rule:

* **Conversation**: a marker ``[script:NAME]`` anywhere in the first user message
  wins; else a conversation named like the request's ``model``; else the one named
  ``default``; else the only one. Anything else is a mismatch (HTTP 400).
* **Turn**: the number of assistant messages already in the request. A retried
  request carries the same messages, so it gets the same turn; many sessions can
  run the same conversation at once.
* **Instance**: a short hash of the conversation and the first user message. Tool
  call ids are derived from it, so they are stable across retries and differ
  between sessions with different prompts; scripted errors are counted per instance.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from async_toolformer.streams.devtools.fakellm.exceptions import ScriptMismatchError
from async_toolformer.streams.devtools.fakellm.script import Script, ScriptedTurn

__all__ = ["TurnSelection", "content_text", "select_turn"]

_MARKER = re.compile(r"\[script:([\w.\-]+)\]")


@dataclass(frozen=True, slots=True)
class TurnSelection:
    conversation: str
    turn_index: int
    instance: str
    turn: ScriptedTurn


def content_text(content: Any) -> str:
    """The text of a message content: a string, or a list of text parts/blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        parts = [str(part.get("text", "")) if isinstance(part, Mapping) else "" for part in content]
        return "".join(parts)
    return ""


def select_turn(script: Script, model: str, messages: Sequence[Any]) -> TurnSelection:
    """The scripted turn for a request with this ``model`` and these ``messages``."""
    first_user = next(
        (
            content_text(message.get("content"))
            for message in messages
            if isinstance(message, Mapping) and message.get("role") == "user"
        ),
        "",
    )
    name = _conversation_name(script, model, first_user)
    turns = script.conversations[name].turns
    index = sum(
        1
        for message in messages
        if isinstance(message, Mapping) and message.get("role") == "assistant"
    )
    if index >= len(turns):
        raise ScriptMismatchError(
            f"conversation {name!r} has {len(turns)} turn(s) but the request already holds "
            f"{index} assistant message(s); add turns to the script"
        )
    digest = hashlib.sha256(f"{name}\x00{first_user}".encode()).hexdigest()[:12]
    return TurnSelection(conversation=name, turn_index=index, instance=digest, turn=turns[index])


def _conversation_name(script: Script, model: str, first_user: str) -> str:
    names = script.conversations
    marker = _MARKER.search(first_user)
    if marker is not None:
        if marker.group(1) not in names:
            raise ScriptMismatchError(
                f"the prompt asks for conversation {marker.group(1)!r}; the script has "
                f"{sorted(names)}"
            )
        return marker.group(1)
    if model in names:
        return model
    if "default" in names:
        return "default"
    if len(names) == 1:
        return next(iter(names))
    raise ScriptMismatchError(
        f"cannot tell which conversation to play (model {model!r}, no [script:NAME] marker); "
        f"the script has {sorted(names)}"
    )
