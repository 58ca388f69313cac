"""The console in a real browser: headless Chromium, driven by Playwright, against a real worker.

Debian's ``chromium`` package is used as it is (``apt-get install chromium``);
Playwright's own browser download is never needed. Set
``TOOLFORMER_CONSOLE_SCREENSHOT=docs/console.png`` to refresh the README's
screenshot from this run.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from async_toolformer.schemas import ToolCallRequested

from ..pipeline.conftest import PipelineFactory
from .harness import running_console, write_limits

pytestmark = [pytest.mark.connected, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
HOSTILE = '<img src=x onerror="window.__owned = 1">fast branch won'


@pytest.fixture
def chromium() -> str:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")
    pytest.importorskip("playwright", reason="pip install playwright (the dev extra)")
    return CHROMIUM


async def test_the_page_fills_in_a_timeline_and_marks_the_cancelled_calls(
        chromium: str, pipeline_factory: PipelineFactory, tmp_path: Path,
        unique_prefix: str) -> None:
    from playwright.async_api import async_playwright, expect

    limits = write_limits(tmp_path, f"{unique_prefix}limits")
    pipeline = await pipeline_factory(limits_file=limits)

    async with running_console(pipeline.settings, limits_file=limits) as console, \
            async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1440, "height": 860})
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            await page.goto(console.url)
            await expect(page.locator("#conn")).to_have_text("live")

            fast, slow, other, ghost = _calls()
            await pipeline.client.submit([*fast, *slow, *other, ghost])
            running = page.locator('[data-call-id="slow-0"][data-status="running"]')
            await expect(running).to_be_visible(timeout=30_000)
            await asyncio.sleep(1.0)
            await pipeline.client.cancel_branch("research-42", "slow",
                                                reason="the fast branch answered first")

            for call in slow:
                row = page.locator(f'[data-call-id="{call.call_id}"]')
                await expect(row).to_have_attribute("data-status", "cancelled", timeout=30_000)
                await expect(row).to_contain_text("the fast branch answered first")
            for call in [*fast, *other]:
                row = page.locator(f'[data-call-id="{call.call_id}"]')
                await expect(row).to_have_attribute("data-status", "ok", timeout=30_000)
            await expect(page.locator('#dlq [data-reason="unknown_tool"]')).to_contain_text(
                "no_such_tool", timeout=30_000)
            await expect(page.locator("#group table tr")).to_have_count(5, timeout=30_000)
            await expect(page.locator("#limits")).to_contain_text("sleep-rate", timeout=30_000)

            await asyncio.sleep(0.3)  # let the last bars settle before the picture
            shot = tmp_path / "console.png"
            await page.screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000
            if target := os.environ.get("TOOLFORMER_CONSOLE_SCREENSHOT"):
                shutil.copyfile(shot, target)

            # Markup from a producer is shown as text, never run.
            await pipeline.client.cancel_branch("batch-7", "main", reason=HOSTILE)
            await expect(page.locator('[data-session-id="batch-7"]')).to_contain_text(HOSTILE)
            assert await page.evaluate("window.__owned") is None
            assert await page.locator("#sessions img").count() == 0
            assert problems == []  # no script error, no refusal by the page's CSP
        finally:
            await browser.close()


def _calls() -> tuple[list[ToolCallRequested], list[ToolCallRequested],
                      list[ToolCallRequested], ToolCallRequested]:
    """Two branches of sleeps, a few quick sync calls and one for a tool that does not exist."""
    fast = [ToolCallRequested(call_id=f"fast-{i}", session_id="research-42", branch_id="fast",
                              tool="sleep", arguments={"ms": 300 + 250 * i}) for i in range(4)]
    slow = [ToolCallRequested(call_id=f"slow-{i}", session_id="research-42", branch_id="slow",
                              tool="sleep", arguments={"ms": 30_000}) for i in range(3)]
    other = [ToolCallRequested(call_id=f"sum-{i}", session_id="batch-7", tool="blocking_sum",
                               arguments={"a": i, "b": 1}) for i in range(3)]
    ghost = ToolCallRequested(call_id="ghost-1", session_id="batch-7", tool="no_such_tool")
    return fast, slow, other, ghost
