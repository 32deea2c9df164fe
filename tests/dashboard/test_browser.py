"""The dashboard in a real browser (Chromium driven by Playwright), served by a real
worker (``worker --http``) whose first provider hits a usage limit: the page changes
by itself, without a reload, as the job fails over."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..cli.conftest import Cli, dashboard_process, wait_until
from ..conftest import WriteConfig
from ..fakes.config_text import backend, provider

playwright = pytest.importorskip("playwright.sync_api")

SECRET = "sk-live-browser-secret-91c2"
#: Set to a path to keep the overview's screenshot (README's image is made this way).
SCREENSHOT_VARIABLE = "DASHBOARD_SCREENSHOT"


def chromium() -> str | None:
    """The system Chromium (.ci/run installs it with apt-get), or the one named."""
    named = os.environ.get("ORCHESTRATOR_TEST_CHROMIUM")
    if named:
        return named
    return next(
        filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None
    )


@pytest.fixture
def served_worker(write_config: WriteConfig, tmp_path: Path) -> Iterator[str]:
    """A spool worker serving the dashboard; yields its address."""
    cli = Cli(state_file=tmp_path / "state" / "state.json")
    cli.config_dir = write_config(
        backend("agent", ["first", "second", "third"], usage_limit_cooldown_seconds="900"),
        provider("agent", "first", "limit", FAKE_RETRY_AFTER="600", OPENAI_API_KEY=SECRET)
        + provider("agent", "second", FAKE_SLEEP="0.5")
        + provider("agent", "third"),
    )
    spool = tmp_path / "spool"
    args = ("worker", "--spool", str(spool), "--http", "127.0.0.1:0")
    with dashboard_process(cli, tmp_path / "worker.log", *args) as (_, url):
        wait_until(lambda: "worker ready" in (tmp_path / "worker.log").read_text(), 30)
        yield url


def test_a_failover_shows_live_and_the_rotate_button_moves_the_provider(
    served_worker: str, tmp_path: Path
) -> None:
    """Providers listed; a limit turns the first row to cooling with a ticking countdown
    and the job's timeline gains both attempts, without a reload; rotate moves the
    current provider; no console errors; the secret is never on the page."""
    executable = chromium()
    if executable is None:
        pytest.skip("no Chromium installed (.ci/run installs it: apt-get install chromium)")
    url = served_worker
    problems: list[str] = []
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            overview, timeline = context.new_page(), context.new_page()
            for page in (overview, timeline):
                page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda error: problems.append(str(error)))
                page.on("dialog", lambda dialog: dialog.accept())
            overview.goto(url)
            timeline.goto(url + "jobs/job-1")  # before the job exists: it appears live
            expect = playwright.expect
            rows = overview.locator("tr[data-provider]")
            expect(rows).to_have_count(3)
            assert rows.evaluate_all("rows => rows.map(r => r.dataset.provider)") == [
                "first",
                "second",
                "third",
            ]
            expect(overview.locator("tr.current")).to_have_attribute("data-provider", "first")
            expect(overview.locator("#live")).to_have_text("live")
            expect(timeline.locator("#job-unseen")).to_be_visible()

            job = tmp_path / "spool" / "incoming" / "job-1.json"
            job.write_text('{"id": "job-1", "prompt": "fix the bug", "backend": "agent"}')

            overview.bring_to_front()  # a page in the background gets its timers throttled
            first = overview.locator('tr[data-provider="first"]')
            expect(first).to_have_attribute("data-state", "cooling", timeout=15_000)
            countdown = first.locator(".countdown")
            expect(countdown).to_have_text(re.compile(r"^(9|10)m \d\ds$"))
            expect(countdown).not_to_have_text(countdown.inner_text(), timeout=5_000)  # ticks
            timeline.bring_to_front()
            attempts = timeline.locator("li.attempt")
            expect(attempts).to_have_count(2, timeout=15_000)
            expect(attempts.nth(0)).to_have_attribute("data-outcome", "usage_limit")
            expect(attempts.nth(0)).to_contain_text("cooled down until")
            expect(attempts.nth(1)).to_have_attribute("data-outcome", "success", timeout=15_000)
            expect(attempts.nth(1)).to_have_attribute("data-provider", "second")
            expect(timeline.locator("#job-state")).to_have_text("succeeded")

            overview.bring_to_front()
            expect(overview.locator("tr.current")).to_have_attribute("data-provider", "second")
            overview.locator('[data-backend="agent"] button', has_text="Rotate").click()
            expect(overview.locator("#notice")).to_contain_text("current provider is third")
            expect(overview.locator("tr.current")).to_have_attribute(
                "data-provider", "third", timeout=10_000
            )

            keep = os.environ.get(SCREENSHOT_VARIABLE)
            overview.screenshot(path=keep or str(tmp_path / "overview.png"), full_page=True)
            texts = [page.content() + page.inner_text("body") for page in (overview, timeline)]
            overview.set_viewport_size({"width": 390, "height": 844})  # a phone
            fits = overview.evaluate(
                "document.documentElement.scrollWidth <= window.innerWidth + 1"
            )
        finally:
            browser.close()
    assert problems == []
    assert all(SECRET not in text for text in texts)
    assert fits, "the overview scrolls sideways on a phone-sized screen"
