"""How a request finds its turn: conversation, turn index, instance."""

from __future__ import annotations

from typing import Any

import pytest

from async_toolformer.streams.devtools.fakellm import ScriptMismatchError, load_script, select_turn

TWO = load_script(
    {
        "conversations": {
            "search": {"turns": [{"text": "s0"}, {"text": "s1"}]},
            "fetch": {"turns": [{"text": "f0"}]},
        }
    }
)


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def test_marker_in_first_user_message_wins_over_model() -> None:
    selection = select_turn(TWO, "fetch", [user("please [script:search] go")])
    assert (selection.conversation, selection.turn.text) == ("search", "s0")


def test_marker_in_content_parts() -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": "[script:fetch]"}]}]
    assert select_turn(TWO, "m", messages).conversation == "fetch"


def test_model_name_selects_conversation() -> None:
    assert select_turn(TWO, "fetch", [user("hi")]).conversation == "fetch"


def test_no_way_to_choose_is_a_mismatch() -> None:
    with pytest.raises(ScriptMismatchError, match="cannot tell which conversation"):
        select_turn(TWO, "gpt", [user("hi")])


def test_unknown_marker_is_a_mismatch_listing_names() -> None:
    with pytest.raises(ScriptMismatchError, match="fetch"):
        select_turn(TWO, "gpt", [user("[script:nope]")])


def test_turn_is_the_number_of_assistant_messages() -> None:
    messages = [
        user("[script:search]"),
        {"role": "assistant", "content": None, "tool_calls": []},
        {"role": "tool", "tool_call_id": "x", "content": "r"},
    ]
    selection = select_turn(TWO, "m", messages)
    assert (selection.turn_index, selection.turn.text) == (1, "s1")


def test_running_past_the_script_is_a_mismatch() -> None:
    messages = [user("x"), {"role": "assistant", "content": "a"}]
    with pytest.raises(ScriptMismatchError, match="has 1 turn"):
        select_turn(TWO, "fetch", messages)


def test_instance_is_stable_for_a_prompt_and_differs_between_prompts() -> None:
    first = select_turn(TWO, "fetch", [user("one")])
    again = select_turn(TWO, "fetch", [user("one")])
    other = select_turn(TWO, "fetch", [user("two")])
    assert first.instance == again.instance
    assert first.instance != other.instance
