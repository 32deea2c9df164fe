"""`status`, `providers rotate|reset`, `events` and `schema job`, from the shell."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from ..conftest import WriteConfig
from ..fakes.config_text import backend, provider
from .conftest import Cli, StartWorker, start_worker, wait_until

__all__ = ["start_worker"]


@pytest.fixture
def configured(cli: Cli, write_config: WriteConfig) -> Cli:
    cli.config_dir = write_config(
        backend("agent", ["busy", "spare", "third"]),
        provider("agent", "busy", "limit", FAKE_RETRY_AFTER="120")
        + provider("agent", "spare")
        + provider("agent", "third"),
    )
    return cli


def status(cli: Cli) -> dict[str, object]:
    result = cli("status", "--json")
    assert result.returncode == 0, result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    return data


def providers_of(data: dict[str, object]) -> list[dict[str, object]]:
    backends = data["backends"]
    assert isinstance(backends, list)
    providers: list[dict[str, object]] = backends[0]["providers"]
    return providers


def current(data: dict[str, object]) -> str:
    return next(str(p["name"]) for p in providers_of(data) if p["current"])


def test_status_before_and_after_a_run(configured: Cli) -> None:
    before = status(configured)
    assert [p["name"] for p in providers_of(before)] == ["busy", "spare", "third"]
    assert current(before) == "busy"
    assert before["last_backend"] is None
    assert configured("run", "--prompt", "x").returncode == 0
    after = status(configured)
    busy, spare, _ = providers_of(after)
    assert isinstance(busy["cooldown_left"], float)
    assert 100 < busy["cooldown_left"] <= 120
    assert (busy["failures"], spare["successes"]) == (1, 1)
    assert current(after) == "spare"
    assert (after["last_backend"], after["last_provider"]) == ("agent", "spare")
    table = configured("status")
    assert table.returncode == 0
    assert "busy" in table.stdout
    assert "last used: agent/spare" in table.stdout


def test_rotate_and_reset_without_a_worker(configured: Cli) -> None:
    result = configured("providers", "rotate", "agent")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "agent: current provider is spare"
    assert current(status(configured)) == "spare"
    assert configured("providers", "rotate", "agent").stdout.strip().endswith("third")
    assert configured("providers", "reset", "agent").stdout.strip().endswith("busy")
    unknown = configured("providers", "rotate", "nope")
    assert unknown.returncode == 2
    assert "Unknown backend 'nope'" in unknown.stderr


def test_rotate_reaches_a_running_worker(
    configured: Cli, tmp_path: Path, start_worker: StartWorker
) -> None:
    """The worker owns the state; the command hands it a request and sees it applied."""
    spool = tmp_path / "spool"
    worker = start_worker(configured, spool)
    result = configured("providers", "rotate", "agent")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "agent: current provider is spare"
    (spool / "incoming" / "job.toml").write_text('prompt = "after the rotation"\n')
    wait_until(lambda: (spool / "done" / "job.result.json").exists(), 30, worker.log)
    attempts = json.loads((spool / "done" / "job.result.json").read_text())["attempts"]
    assert [a["provider"] for a in attempts] == ["spare"]
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    events = [json.loads(line) for line in configured("events", "--json").stdout.splitlines()]
    assert any(e["kind"] == "provider_rotated" and e["reason"] == "manual rotate" for e in events)


def test_events_log(configured: Cli) -> None:
    empty = configured("events")
    assert empty.returncode == 0
    assert "no events yet" in empty.stderr
    configured("run", "--prompt", "x")
    lines = configured("events", "--json").stdout.splitlines()
    kinds = [json.loads(line)["kind"] for line in lines]
    assert kinds[0] == "job_queued"
    assert "provider_rotated" in kinds
    assert kinds[-1] == "job_succeeded"
    last = configured("events", "-n", "1").stdout.splitlines()
    assert len(last) == 1
    assert "job_succeeded" in last[0]
    assert "agent/spare" in last[0]


def test_schema_job(cli: Cli) -> None:
    result = cli("schema", "job")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema["title"] == "Job file"
    assert "prompt_file" in schema["properties"]


def test_events_follow_prints_new_events_until_interrupted(configured: Cli, tmp_path: Path) -> None:
    output = tmp_path / "follow.out"
    with (
        output.open("w") as sink,
        subprocess.Popen(
            configured.argv("events", "--follow"),
            stdout=sink,
            stderr=subprocess.PIPE,
            env=configured.env(),
        ) as follower,
    ):
        time.sleep(1)  # let it start watching before anything is written
        assert configured("run", "--prompt", "followed").returncode == 0
        wait_until(lambda: "job_succeeded" in output.read_text(), 30)
        follower.send_signal(signal.SIGINT)
        assert follower.wait(timeout=30) == 0
    lines = output.read_text().splitlines()
    assert "job_queued" in lines[0]
    assert "provider_rotated" in output.read_text()


def test_each_configuration_keeps_its_own_state(write_config: WriteConfig, tmp_path: Path) -> None:
    """Two config directories with the same backend and provider names: a limit seen with
    the first does not cool down the second (the default state file is per config)."""
    import os
    import subprocess
    import sys

    from ..fakes.config_text import backend, provider

    first = write_config(
        backend("agent", ["main", "spare"]),
        provider("agent", "main", "limit", FAKE_RETRY_AFTER="600") + provider("agent", "spare"),
        directory=tmp_path / "first",
    )
    second = write_config(
        backend("agent", ["main", "spare"]),
        provider("agent", "main") + provider("agent", "spare"),
        directory=tmp_path / "second",
    )
    environment = {k: v for k, v in os.environ.items() if k != "ORCHESTRATOR_STATE_FILE"}
    environment["XDG_STATE_HOME"] = str(tmp_path / "state")

    def run(config_dir: Path) -> str:
        command = [sys.executable, "-m", "orchestrator", "run", "--prompt", "hi", "--json"]
        done = subprocess.run(
            [*command, "--config-dir", str(config_dir)],
            capture_output=True, text=True, env=environment, timeout=60, check=True,
        )  # fmt: skip
        provider_used: str = json.loads(done.stdout)["provider"]
        return provider_used

    assert run(first) == "spare"  # main limited, cooled for 600 s in the first's state
    assert run(second) == "main"  # the second's main is another account: not cooled
    files = sorted(p.parent.name for p in (tmp_path / "state").rglob("state.json"))
    assert len(files) == 2
    assert files[0].startswith("first-")
    assert files[1].startswith("second-")


def test_the_shared_state_file_of_earlier_versions_is_copied_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An existing single state.json is the starting point of each configuration's own."""
    from orchestrator.cli._options import state_file_path

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    shared = tmp_path / "provider-orchestrator" / "state.json"
    shared.parent.mkdir()
    shared.write_text('{"version": 1, "backends": {}}')
    path = state_file_path(None, tmp_path / "cfg")
    assert path != shared
    assert path.read_text() == shared.read_text()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert shared.exists()  # kept for the other configurations
    assert state_file_path(tmp_path / "mine.json", tmp_path / "cfg") == tmp_path / "mine.json"


def test_the_spec_manager_api_shares_the_command_lines_state(
    configured: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`get_llm_backend_manager()` right after a CLI run sees its last provider and
    cooldowns; its rotations are seen by `status`; while another process owns the file,
    a rotation is handed to it as a request instead of being overwritten."""
    from orchestrator import get_llm_backend_manager
    from orchestrator._state_store import StateStore

    assert configured("run", "--prompt", "x").returncode == 0
    monkeypatch.setenv("ORCHESTRATOR_STATE_FILE", str(configured.state_file))
    manager = get_llm_backend_manager(config_dir=configured.config_dir)
    backend, provider, _ = manager.get_last_backend_provider_and_model()
    assert (backend, provider) == ("agent", "spare")
    providers = manager.provider_manager
    assert providers.get_current_provider_name("agent") == "spare"  # busy cools down
    providers.reset_provider_rotation("agent")
    after_reset = status(configured)
    assert current(after_reset) == "busy"
    assert providers_of(after_reset)[0]["cooldown_left"] is None
    assert providers.advance_to_next_provider("agent") is True
    assert current(status(configured)) == "spare"
    manager.record_use("agent", "third", "m-3")
    assert status(configured)["last_backend"] == "agent"  # recorded here, kept as the newest
    assert manager.get_last_backend_provider_and_model() == ("agent", "third", "m-3")

    owner = StateStore(configured.state_file)
    assert owner.try_own()
    try:
        assert providers.advance_to_next_provider("agent") is True
        assert providers.get_current_provider_name("agent") == "third"  # seen here at once
        assert [request.action for request in owner.take_requests()] == ["rotate"]
    finally:
        owner.release()


def test_a_manager_without_shared_state_writes_nothing(
    configured: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestrator import get_llm_backend_manager

    monkeypatch.setenv("ORCHESTRATOR_STATE_FILE", str(configured.state_file))
    manager = get_llm_backend_manager(config_dir=configured.config_dir, shared_state=False)
    assert manager.provider_manager.advance_to_next_provider("agent") is True
    assert not configured.state_file.exists()
    assert current(status(configured)) == "busy"


def test_status_says_whose_keys_the_sentinel_holds_and_their_pools(
    cli: Cli, write_config: WriteConfig
) -> None:
    from ..fakes.config_text import http_provider

    cli.config_dir = write_config(
        backend("agent", ["a", "b", "plain"]),
        http_provider("agent", "a", "http://127.0.0.1:9/v1", sentinel=True)
        + http_provider("agent", "b", "http://127.0.0.1:9/v1", sentinel=True)
        + provider("agent", "plain"),
    )
    a, b, plain = providers_of(status(cli))
    assert (a["key_held"], a["key_pool"]) == (True, ["b"])
    assert (b["key_held"], b["key_pool"]) == (True, ["a"])
    assert (plain["key_held"], plain["key_pool"]) == (False, [])
    table = cli("status")
    assert "held; pool: b" in table.stdout
