"""The script format: short and long forms, defaults, and errors that say what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from async_toolformer.streams.devtools.fakellm import ScriptError, Timing, load_script


def test_short_form_is_the_default_conversation() -> None:
    script = load_script({"turns": [{"text": "hello"}]})
    assert list(script.conversations) == ["default"]
    assert script.conversations["default"].turns[0].text == "hello"


def test_turn_timing_falls_back_to_script_defaults() -> None:
    script = load_script(
        {
            "defaults": {"latency_ms": 100, "token_delay_ms": 10},
            "conversations": {"c": {"turns": [{"token_delay_ms": 3}]}},
        }
    )
    timing = script.conversations["c"].turns[0].timing(script.defaults)
    assert timing == Timing(latency_ms=100, token_delay_ms=3, chunk_chars=16)


def test_raw_arguments_are_sent_verbatim_and_arguments_as_json() -> None:
    script = load_script(
        {
            "turns": [
                {
                    "tool_calls": [
                        {"name": "a", "arguments": {"q": "x"}},
                        {"name": "b", "raw_arguments": '{"q": '},
                        {"name": "c"},
                    ]
                }
            ]
        }
    )
    calls = script.conversations["default"].turns[0].tool_calls
    assert [call.arguments_json() for call in calls] == ['{"q":"x"}', '{"q": ', "{}"]


def test_both_kinds_of_arguments_is_an_error() -> None:
    with pytest.raises(ScriptError, match="arguments or raw_arguments"):
        load_script(
            {"turns": [{"tool_calls": [{"name": "a", "arguments": {}, "raw_arguments": ""}]}]}
        )


def test_unknown_field_is_an_error_naming_it() -> None:
    with pytest.raises(ScriptError, match="latency"):
        load_script({"turns": [{"latency": 5}]})


def test_error_status_must_be_an_http_error() -> None:
    with pytest.raises(ScriptError, match="status"):
        load_script({"turns": [{"error": {"status": 200}}]})


def test_file_problems_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    with pytest.raises(ScriptError, match=r"missing\.json"):
        load_script(missing)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ScriptError, match="not valid JSON"):
        load_script(broken)


def test_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "script.json"
    path.write_text(
        '{"turns": [{"text": "hi", "usage": {"prompt_tokens": 3, "completion_tokens": 1}}]}'
    )
    turn = load_script(path).conversations["default"].turns[0]
    assert turn.usage is not None
    assert turn.usage.prompt_tokens == 3
