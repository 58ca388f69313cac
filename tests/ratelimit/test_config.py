"""Limits files: good ones load, bad ones say file, place and reason in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from async_toolformer.streams.redis.ratelimit import (
    ConcurrencyLimit,
    LimitsConfigError,
    TokenBucketLimit,
    load_limits,
    parse_limits,
)
from async_toolformer.streams.redis.ratelimit import config as config_module

GOOD = """
namespace = "tf:limits"
[[limits]]
name = "search-rps"
scope = "tool"
match = "search"
kind = "token_bucket"
rate = 50
burst = 20
"""


def example_from_docstring() -> str:
    doc = config_module.__doc__ or ""
    block = doc.split("Example::", 1)[1]
    return "\n".join(line[4:] for line in block.splitlines())


def test_the_documented_example_loads() -> None:
    config = parse_limits(example_from_docstring())
    assert [limit.kind for limit in config.limits] == [
        "token_bucket", "token_bucket", "token_bucket", "sliding_window", "concurrency"]
    tokens = config.limits[2]
    assert isinstance(tokens, TokenBucketLimit)
    assert tokens.units == "cost"
    assert tokens.period_s == 60
    assert isinstance(config.limits[4], ConcurrencyLimit)


def test_load_limits_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "limits.toml"
    path.write_text(GOOD)
    [limit] = load_limits(path).limits
    assert isinstance(limit, TokenBucketLimit)
    assert (limit.rate, limit.capacity, limit.backpressure) == (50, 20, "wait")


def error_of(text: str, tmp_path: Path) -> str:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(LimitsConfigError) as info:
        load_limits(path)
    message = str(info.value)
    assert message.startswith(str(path))
    assert "\n" not in message
    return message


def test_syntax_error_names_the_line(tmp_path: Path) -> None:
    message = error_of(GOOD.replace("rate = 50", "rate = = 50"), tmp_path)
    assert "line 8" in message
    assert "TOML syntax error" in message


def test_unknown_kind(tmp_path: Path) -> None:
    message = error_of(GOOD.replace('"token_bucket"', '"leaky_bucket"'), tmp_path)
    assert "limits[0] (search-rps).kind (line 7)" in message
    assert "unknown kind 'leaky_bucket'" in message
    assert "token_bucket, sliding_window or concurrency" in message


def test_negative_rate_names_the_key_and_line(tmp_path: Path) -> None:
    message = error_of(GOOD.replace("rate = 50", "rate = -5"), tmp_path)
    assert "limits[0] (search-rps).rate (line 8)" in message
    assert "greater than 0" in message
    assert "-5" in message


def test_misspelt_key(tmp_path: Path) -> None:
    message = error_of(GOOD.replace("burst = 20", "brust = 20"), tmp_path)
    assert "limits[0] (search-rps).brust (line 9)" in message
    assert "unknown key" in message


def test_duplicate_names(tmp_path: Path) -> None:
    message = error_of(GOOD + GOOD.split("\n", 2)[2], tmp_path)
    assert "names must be unique" in message


def test_global_limit_with_match(tmp_path: Path) -> None:
    text = '[[limits]]\nname = "all"\nscope = "global"\nmatch = "x"\nkind = "concurrency"\n' \
           "max_in_flight = 3\n"
    assert "remove \"match\"" in error_of(text, tmp_path)


def test_bad_scope_and_burst(tmp_path: Path) -> None:
    assert "scope" in error_of(GOOD.replace('"tool"', '"user"'), tmp_path)
    assert "burst must be at least 1" in error_of(GOOD.replace("burst = 20", "burst = 0.5"),
                                                   tmp_path)


def test_bad_top_level_value(tmp_path: Path) -> None:
    message = error_of('failure_policy = "sometimes"\n' + GOOD.replace(
        'namespace = "tf:limits"\n', ""), tmp_path)
    assert "failure_policy (line 1)" in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LimitsConfigError, match="cannot read the file"):
        load_limits(tmp_path / "nope.toml")
