"""``orchestrator dashboard`` and ``worker --http`` from the shell: refused beyond loopback
without a token (exit 2, before anything starts), served until SIGTERM (exit 0)."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from ..conftest import WriteConfig
from ..fakes.config_text import backend, provider
from .conftest import Cli, dashboard_process


@pytest.fixture
def configured(cli: Cli, write_config: WriteConfig) -> Cli:
    cli.config_dir = write_config(backend("agent", ["a"]), provider("agent", "a"))
    return cli


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("dashboard", "--listen", "0.0.0.0:0"), "--listen 0.0.0.0:0 is reachable beyond"),
        (("dashboard", "--listen", "8080"), "--listen '8080' is not HOST:PORT"),
        (("worker", "--spool", "SPOOL", "--http", "0.0.0.0:0"), "--http 0.0.0.0:0 is reachable"),
    ],
)
def test_unsafe_or_bad_addresses_exit_2_before_serving(
    configured: Cli, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    """A public address without a token, or no HOST:PORT, is a usage error."""
    argv = [str(tmp_path / "spool") if arg == "SPOOL" else arg for arg in args]
    done = configured(*argv, env={"ORCHESTRATOR_DASHBOARD_TOKEN": ""}, timeout=60)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "$ORCHESTRATOR_DASHBOARD_TOKEN" in done.stderr or "HOST:PORT" in done.stderr
    assert not (tmp_path / "spool").exists()  # refused before the worker made anything


def test_the_dashboard_serves_until_sigterm(configured: Cli, tmp_path: Path) -> None:
    """It says where it listens, answers /api/status, and stops on SIGTERM with exit 0."""
    log = tmp_path / "dashboard.log"
    with dashboard_process(configured, log, "dashboard", "--listen", "127.0.0.1:0") as (
        process,
        url,
    ):
        status = httpx.get(url + "api/status", timeout=10).json()
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    assert [b["name"] for b in status["backends"]] == ["agent"]
    assert "SIGTERM: stopping the dashboard" in log.read_text()
