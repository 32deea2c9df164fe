"""The real CLIs through the sentinel: a 429 seen on the wire ends the attempt at once.

The sentinel is on by default for providers with a base URL (test_real_clis
runs the spec-written config that way); here it is asked for explicitly
(``sentinel = true``) and switched off (``sentinel = false``) to compare.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from orchestrator import AttemptOutcome, Job

from .conftest import CONFIG_DIR, PROTOCOL, StartMock, cli_environment
from .test_real_clis import mock_urls, run_job

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(180)]

IDLE = 8.0


def sentinel_config(directory: Path, *, on: bool = True) -> Path:
    """examples/mock-apis with ``sentinel = true`` (or false) in every qwen, claude and
    gemini provider."""
    shutil.copytree(CONFIG_DIR, directory)
    metadata = directory / "provider_metadata.toml"
    setting = f"sentinel = {str(on).lower()}"
    text = re.sub(
        r"^(\[(qwen|claude|gemini)\.[a-z]+\]\n)", rf"\1{setting}\n", metadata.read_text(),
        flags=re.MULTILINE,
    )  # fmt: skip
    metadata.write_text(text)
    assert text.count(setting) == 6
    return directory


@pytest.mark.parametrize("backend", ["qwen", "claude", "gemini"])
async def test_a_429_seen_by_the_sentinel_moves_the_job_on_at_once(
    backend: str, cli_bin: Path, start_mock: StartMock, tmp_path: Path
) -> None:
    limited = start_mock(PROTOCOL[backend], "rate-limit-bare")
    answering = start_mock(PROTOCOL[backend], "answer", "PONG via the sentinel")
    urls = mock_urls(**{f"{backend}_limited": limited, f"{backend}_answering": answering})
    environment = cli_environment(tmp_path / "home", urls)
    config_dir = sentinel_config(tmp_path / "config")

    # The idle timeout is only a guard here: a node CLI starting on a loaded 2-core
    # machine can take longer than IDLE before its first line (seen once in CI).
    job = Job(prompt="say ping", backend=backend, idle_timeout=30, timeout=150)
    result, events, elapsed = await run_job(environment, job, config_dir)

    assert result.status == "succeeded", result.model_dump_json(indent=2)
    assert (result.provider, result.output) == ("answering", "PONG via the sentinel")
    first = result.attempts[0]
    assert (first.provider, first.outcome) == ("limited", AttemptOutcome.USAGE_LIMIT)
    assert "seen by the sentinel" in first.message
    assert elapsed < 20, elapsed  # generous: two CLI starts on a loaded 2-core machine
    assert result.usage is not None  # counted by the sentinel where the CLI reports none
    assert any(event.kind == "provider_rotated" for event in events)


async def test_without_the_sentinel_qwens_debug_log_still_sees_the_limit(
    cli_bin: Path, start_mock: StartMock, tmp_path: Path
) -> None:
    """sentinel = false: qwen's debug log shows the retried 429 within seconds; with that
    log switched off too (QWEN_DEBUG_LOG_FILE=0) only the idle timeout ends the attempt."""
    limited = start_mock("openai-chat", "rate-limit-bare")
    answering = start_mock("openai-chat", "answer", "PONG")
    environment = cli_environment(
        tmp_path / "home", mock_urls(qwen_limited=limited, qwen_answering=answering)
    )
    config_dir = sentinel_config(tmp_path / "off", on=False)
    job = Job(prompt="say ping", backend="qwen", idle_timeout=IDLE, timeout=150)
    started = time.monotonic()
    logged, _, _ = await run_job(environment, job, config_dir)
    logged_time = time.monotonic() - started
    silent_environment = {**environment, "QWEN_DEBUG_LOG_FILE": "0"}
    started = time.monotonic()
    silent, _, _ = await run_job(
        silent_environment, job.model_copy(update={"id": "again"}), config_dir
    )
    silent_time = time.monotonic() - started

    assert (logged.provider, silent.provider) == ("answering", "answering")
    first = logged.attempts[0]
    assert first.outcome is AttemptOutcome.USAGE_LIMIT, first
    assert "qwen's debug log shows HTTP 429" in first.message
    assert silent.attempts[0].outcome is AttemptOutcome.TIMEOUT
    assert silent_time >= IDLE
    assert logged_time < silent_time
