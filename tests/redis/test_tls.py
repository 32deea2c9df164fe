"""Redis as teams run it: TLS (``rediss://`` with a CA) and an ACL user, on a real server.

The server speaks TLS only, with certificates from a throw-away CA, and its default
user is off: jobs run over it with ``alice``'s password in the URL; a wrong password
and an untrusted certificate each end in one clear line that never shows the password.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from orchestrator import Job
from orchestrator.redis import RedisQueue
from orchestrator.redis._connection import connected
from orchestrator.redis._lane import open_lane

from ..conftest import WriteConfig
from ..fakes.config_text import backend, provider
from ..redis_server import RedisServer, make_certificates
from .test_queue import make_worker

pytestmark = pytest.mark.anyio

PASSWORD = "s3cret:pass/word"


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A TLS-only redis-server whose one user is alice; skipped, saying why, without
    openssl or TLS support in the installed redis-server."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: no certificates for the TLS test")
    certificates = make_certificates(tmp_path / "certs")
    users = (f"alice on >{PASSWORD} ~* &* +@all", "default off")
    server = RedisServer(tmp_path / "redis", tls=certificates, users=users)
    try:
        server.start()
    except RuntimeError as exc:
        if "tls" in str(exc).lower():
            pytest.skip(f"the installed redis-server has no TLS support: {exc}")
        raise
    try:
        yield server
    finally:
        server.stop()


async def test_jobs_run_over_tls_as_an_acl_user(
    write_config: WriteConfig, tls_redis: RedisServer
) -> None:
    url = tls_redis.url_for("alice", PASSWORD)
    directory = write_config(backend("agent", ["a"]), provider("agent", "a"))
    async with RedisQueue.connect(url, "q") as queue:
        worker = make_worker(directory, url)
        async with anyio.create_task_group() as group:
            await group.start(worker.run)
            job_id = await queue.submit(Job(prompt="over tls"))
            with anyio.fail_after(20):
                result = await queue.result(job_id)
            worker.stop(drain_timeout=5)
    assert result.output == "a: over tls"


async def test_a_lane_keeps_its_tls_connection_between_calls(tls_redis: RedisServer) -> None:
    """Over TLS the lane logs in as alice, and idle moments between calls do not
    make it think its connection was closed (late TLS records must not count)."""
    async with connected(tls_redis.url_for("alice", PASSWORD)) as client, open_lane(client) as lane:
        assert lane is not None
        for _ in range(3):
            assert await lane.call("ACL", "WHOAMI") == "alice"
            await anyio.sleep(0.2)
        assert lane.connects == 1


def status(url: str, config_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "orchestrator",
            "status",
            "--redis",
            url,
            "--config-dir",
            str(config_dir),
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=60,
        check=False,
    )


def test_the_right_login_works_a_wrong_one_is_exit_2_without_the_password(
    write_config: WriteConfig, tls_redis: RedisServer
) -> None:
    directory = write_config(backend("agent", ["a"]), provider("agent", "a"))
    good = status(tls_redis.url_for("alice", PASSWORD), directory)
    assert good.returncode == 0, good.stderr
    wrong = status(tls_redis.url_for("alice", PASSWORD + "x"), directory)
    assert wrong.returncode == 2
    assert "refused the login" in wrong.stderr
    assert f"127.0.0.1:{tls_redis.port}/0" in wrong.stderr
    for output in (good, wrong):
        assert "s3cret" not in output.stdout + output.stderr


def test_a_certificate_from_another_ca_is_exit_3_naming_the_reason(
    write_config: WriteConfig, tls_redis: RedisServer, tmp_path: Path
) -> None:
    directory = write_config(backend("agent", ["a"]), provider("agent", "a"))
    stranger = make_certificates(tmp_path / "other-ca")
    refused = status(tls_redis.url_for("alice", PASSWORD, ca=stranger / "ca.crt"), directory)
    assert refused.returncode == 3, refused.stderr
    assert "cannot reach Redis at 127.0.0.1" in refused.stderr
    assert "TLS: self-signed certificate in certificate chain" in refused.stderr
    assert "ssl_ca_certs" in refused.stderr
    assert "s3cret" not in refused.stdout + refused.stderr
