"""The Faust version pin, and the private internals it guards (streams/kafka/faust_private.py)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, cast

import pytest

from async_toolformer.streams.exceptions import ConfigurationError
from async_toolformer.streams.kafka import faust_private
from async_toolformer.streams.kafka.app import create_app
from async_toolformer.streams.kafka.faust_private import (
    INTERNALS_TESTS,
    PINNED_FAUST_VERSION,
    check_faust_version,
    installed_faust_version,
)
from async_toolformer.streams.worker.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_the_pinned_version_passes() -> None:
    check_faust_version(PINNED_FAUST_VERSION)


@pytest.mark.parametrize("found", ["0.15.4", "0.15.3.post1", "0.11.0", "1.0.0"])
def test_another_version_is_refused_with_what_to_do(found: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        check_faust_version(found, pinned="0.15.3")
    message = str(caught.value)
    assert f"faust-streaming {found} found" in message
    assert "faust-streaming==0.15.3" in message
    for test in INTERNALS_TESTS:
        assert test in message


def test_a_missing_distribution_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="faust-streaming not installed found"):
        check_faust_version(None)


def test_the_named_tests_exist() -> None:
    for test in INTERNALS_TESTS:
        assert (ROOT / test).is_file(), test


def test_the_pin_is_the_one_in_pyproject() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert f"faust-streaming=={PINNED_FAUST_VERSION}" in pyproject["project"]["dependencies"]


def test_this_environment_has_the_pinned_version() -> None:
    assert installed_faust_version() == PINNED_FAUST_VERSION


def test_create_app_refuses_another_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faust_private, "installed_faust_version", lambda: "0.16.0")
    settings = Settings(kafka_bootstrap_servers="127.0.0.1:9")
    with pytest.raises(ConfigurationError, match=r"faust-streaming 0\.16\.0 found"):
        create_app(settings, "127.0.0.1:9")


def test_only_faust_private_imports_faust_internals() -> None:
    internal = re.compile(r"^\s*(from|import)\s+(faust\.|mode\b)", re.MULTILINE)
    offenders = [
        str(path.relative_to(ROOT))
        for package in ("schemas", "agents", "streams")
        for path in (ROOT / package).rglob("*.py")
        if path.name != "faust_private.py" and internal.search(path.read_text())
    ]
    assert offenders == []


async def test_the_worker_consumer_is_built_with_our_fetch_wait_and_assignor(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The hooks ``faust_private`` overrides are still called, with the effect wanted.

    Builds the aiokafka consumer as a starting worker does, without connecting.
    """
    monkeypatch.setenv("TABLE_STANDBY_REPLICAS", "0")  # would pick round-robin
    settings = Settings(kafka_bootstrap_servers="127.0.0.1:9", fetch_max_wait_ms=7)
    app = create_app(settings, "127.0.0.1:9")
    thread = cast(Any, app.consumer)._thread
    consumer = thread._create_worker_consumer(app.transport)
    try:
        assert consumer._fetch_max_wait_ms == 7
        assert thread._assignor is app.assignor  # Faust's co-partitioning assignor
    finally:
        await consumer.stop()
