"""`orchestrator worker` serving Prometheus metrics, from its flag or the [telemetry] table."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import httpx
import pytest

from ..conftest import WriteConfig
from .conftest import Cli, StartWorker, shell_provider, start_worker, wait_until
from .test_worker_command import drop_jobs, finished

__all__ = ["start_worker"]

BACKEND = '[backends.agent]\nbackend_type = "generic"\nproviders = ["sh"]\n'


def metrics_url(log: Path) -> str:
    found = re.search(r"metrics on (http://\S+)", log.read_text())
    assert found, log.read_text()
    return found.group(1)


@pytest.mark.parametrize("where", ["flag", "table"])
def test_the_worker_serves_metrics_for_its_jobs(
    cli: Cli, write_config: WriteConfig, tmp_path: Path, start_worker: StartWorker, where: str
) -> None:
    table = "[telemetry]\nprometheus_port = 0\n" if where == "table" else ""
    cli.config_dir = write_config(
        BACKEND + table, shell_provider("agent", "sh", tmp_path / "runs.log")
    )
    spool = tmp_path / "spool"
    (spool / "incoming").mkdir(parents=True)
    flags = ("--prometheus-port", "0") if where == "flag" else ()
    worker = start_worker(cli, spool, *flags)
    url = metrics_url(worker.log)
    assert url.startswith("http://127.0.0.1:")
    drop_jobs(spool / "incoming", 5)
    wait_until(lambda: len(finished(spool)) == 5, 60, worker.log)
    wait_until(
        lambda: 'orchestrator_jobs_total{outcome="succeeded"} 5.0' in httpx.get(url).text,
        10,
        worker.log,
    )
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(url)


def test_a_taken_metrics_port_is_a_usage_error(
    cli: Cli, write_config: WriteConfig, tmp_path: Path
) -> None:
    import socket

    cli.config_dir = write_config(BACKEND, shell_provider("agent", "sh", tmp_path / "runs.log"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("worker", "--spool", str(tmp_path / "spool"), "--prometheus-port", str(port))
    assert result.returncode == 2
    assert f"cannot serve /metrics on 127.0.0.1:{port}" in result.stderr


def test_a_bad_telemetry_table_names_the_key(
    cli: Cli, write_config: WriteConfig, tmp_path: Path
) -> None:
    cli.config_dir = write_config(
        BACKEND + '[telemetry]\nprometheus_port = "9464"\n',
        shell_provider("agent", "sh", tmp_path / "runs.log"),
    )
    result = cli("worker", "--spool", str(tmp_path / "spool"))
    assert result.returncode == 2
    assert "table [telemetry], key 'prometheus_port'" in result.stderr
