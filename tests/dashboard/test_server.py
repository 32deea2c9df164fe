"""The dashboard served over real HTTP (hypercorn on a loopback port): the JSON API, the
server-sent event feed and the actions, for the state file with its spool and for Redis;
and the token, required and checked when it listens beyond loopback."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator import Job, load_config
from orchestrator._config import OrchestratorConfig
from orchestrator._errors import UsageError
from orchestrator._events import AttemptStarted, JobQueued, ProviderCooledDown
from orchestrator._sinks import JsonlFileSink
from orchestrator._state import save_rotations
from orchestrator.dashboard import (
    Dashboard,
    DashboardSource,
    Listen,
    RedisSource,
    StateFileSource,
    check_exposure,
    parse_listen,
    serving,
)
from orchestrator.redis import RedisKeys, RedisQueue
from orchestrator.redis._connection import connected
from orchestrator.redis._events import events_key
from orchestrator.redis._state import RedisRotationStore

from ..conftest import WriteConfig
from ..fakes.config_text import backend, provider
from ..redis_server import RedisServer
from .sse import event_stream

pytestmark = pytest.mark.anyio

SECRET = "sk-live-do-not-show-7f3a"
LOOPBACK = Listen("127.0.0.1", 0)


@pytest.fixture
def config(write_config: WriteConfig) -> OrchestratorConfig:
    directory = write_config(
        backend("agent", ["first", "second"]),
        provider("agent", "first", OPENAI_API_KEY=SECRET) + provider("agent", "second"),
    )
    return load_config(directory, environ={})


@asynccontextmanager
async def served(
    config: OrchestratorConfig,
    source: DashboardSource,
    *,
    listen: Listen = LOOPBACK,
    token: str | None = None,
) -> AsyncIterator[httpx.AsyncClient]:
    """The dashboard on a free port, and a client for it (always over 127.0.0.1)."""
    async with serving(Dashboard(config, source), listen, token) as url:
        base = url.replace("0.0.0.0", "127.0.0.1")
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            yield client


def cooling_state(config: OrchestratorConfig, path: Path, until: float) -> None:
    rotations = config.new_rotations()
    rotations["agent"].record_failure("first")
    rotations["agent"].cool_down("first", until)
    save_rotations(path, rotations)


async def test_spool_mode_status_events_and_jobs_over_http(
    config: OrchestratorConfig, tmp_path: Path
) -> None:
    """/api/status shows the cooldown from the state file; an event appended to the log
    reaches the SSE feed and the job list; no page or answer holds the secret."""
    state = tmp_path / "state" / "state.json"
    until = time.time() + 600
    cooling_state(config, state, until)
    log = JsonlFileSink(state.with_name("events.jsonl"))
    log(JobQueued(job_id="before-start", backend="agent"))  # history, read at start
    source = StateFileSource(config, state, tmp_path / "spool")
    async with served(config, source) as client:
        status = (await client.get("/api/status")).json()
        first, second = status["backends"][0]["providers"]
        assert (first["name"], first["state"], first["cooldown_until"]) == (
            "first",
            "cooling",
            until,
        )
        assert 590 < first["cooldown_left"] <= 600
        assert (second["current"], status["backends"][0]["current"]) == (True, "second")
        async with event_stream(f"{client.base_url}api/events") as events:
            log(AttemptStarted(job_id="live-1", backend="agent", provider="second", attempt=1))
            event = await events.next()
        assert (event["kind"], event["job_id"]) == ("attempt_started", "live-1")
        jobs = (await client.get("/api/jobs", params={"state": "running"})).json()
        assert [job["job_id"] for job in jobs["jobs"]] == ["live-1"]
        assert (await client.get("/api/jobs/before-start")).json()["job"]["state"] == "queued"
        assert (await client.get("/api/jobs/nobody")).status_code == 404
        pages = [await client.get(path) for path in ("/", "/jobs", "/jobs/live-1")]
    log.close()
    assert [page.status_code for page in pages] == [200, 200, 200]
    assert all(SECRET not in page.text for page in pages)
    assert SECRET not in json.dumps(status)
    assert 'data-until="' in pages[0].text  # the countdown the page script ticks


async def test_spool_mode_actions_rotate_and_retry(
    config: OrchestratorConfig, tmp_path: Path
) -> None:
    """Rotate moves the current provider (as `providers rotate` does, no worker running);
    retry puts a failed job file back into incoming/; both need the action header."""
    state = tmp_path / "state.json"
    spool = tmp_path / "spool"
    for folder in ("incoming", "failed"):
        (spool / folder).mkdir(parents=True)
    (spool / "failed" / "broken.json").write_text('{"prompt": "try again", "backend": "agent"}')
    (spool / "failed" / "broken.result.json").write_text(
        json.dumps({"job_id": "broken", "status": "failed", "error": "Error: x"})
    )
    headers = {"X-Orchestrator-Action": "1"}
    async with served(config, StateFileSource(config, state, spool)) as client:
        refused = await client.post("/api/backends/agent/rotate")
        rotated = await client.post("/api/backends/agent/rotate", headers=headers)
        unknown = await client.post("/api/backends/nope/reset", headers=headers)
        status = (await client.get("/api/status")).json()
        retried = await client.post("/api/jobs/broken/retry", headers=headers)
        again = await client.post("/api/jobs/broken/retry", headers=headers)
        result = (await client.get("/api/jobs/broken")).json()["result"]
    assert refused.status_code == 403
    assert rotated.json() == {"backend": "agent", "action": "rotate", "current": "second"}
    assert status["backends"][0]["current"] == "second"
    assert unknown.status_code == 404
    assert retried.json() == {"job_id": "broken", "queued_as": "broken"}
    assert (spool / "incoming" / "broken.json").exists()
    assert again.status_code == 409
    assert "no valid job file" in again.json()["error"]
    assert (result["status"], result["error"], result["output_chars"]) == ("failed", "Error: x", 0)


async def test_redis_mode_status_feed_queue_and_retry(
    config: OrchestratorConfig, redis_server: RedisServer
) -> None:
    """On Redis: the shared cooldown, the event stream live, queued entries, and a failed
    job (its text kept by the worker's finish) submitted again."""
    until = time.time() + 300
    async with connected(redis_server.url) as client:
        store = RedisRotationStore(client, config, "dash")
        await store.record_failure("agent", "first", cooldown_until=until)
        queue = RedisQueue(client, _keys())
        waiting = await queue.submit(Job(prompt="waiting", backend="agent"))
        source = RedisSource(config, redis_server.url, "dash")
        async with served(config, source) as http:
            status = (await http.get("/api/status")).json()
            async with event_stream(f"{http.base_url}api/events") as events:
                event = ProviderCooledDown(
                    job_id="j-9",
                    backend="agent",
                    provider="first",
                    until=until,
                    reason="usage_limit",
                )
                await client.xadd(events_key("dash"), {"event": event.model_dump_json()})
                received = await events.next()
            jobs = (await http.get("/api/jobs")).json()
            await _fail_a_job(client, "failed-1")
            headers = {"X-Orchestrator-Action": "1"}
            retried = (await http.post("/api/jobs/failed-1/retry", headers=headers)).json()
            manual = (await http.post("/api/backends/agent/reset", headers=headers)).json()
        assert await client.xlen(_keys().jobs) == 2  # the waiting job and the retry
    first = status["backends"][0]["providers"][0]
    assert (first["state"], first["cooldown_until"]) == ("cooling", pytest.approx(until))
    assert (received["kind"], received["job_id"]) == ("provider_cooled_down", "j-9")
    assert [item["name"] for item in jobs["queued"]] == [waiting]
    assert retried["job_id"] == "failed-1"
    assert retried["queued_as"].startswith("failed-1")
    assert manual["current"] == "first"  # reset lifts the cooldown


def _keys() -> RedisKeys:
    return RedisKeys("dash")


async def _fail_a_job(client: Any, job_id: str) -> None:
    """What a worker's finish leaves for a failed job: its result and its text."""
    keys = _keys()
    job = Job(id=job_id, prompt="again", backend="agent")
    await client.set(keys.result(job_id), json.dumps({"job_id": job_id, "status": "failed"}))
    await client.set(keys.used_id(job_id), "1")
    await client.set(keys.failed_job(job_id), job.model_dump_json())


async def test_beyond_loopback_every_request_needs_the_token(
    config: OrchestratorConfig, tmp_path: Path
) -> None:
    """Bound to 0.0.0.0 with a token: refused without it; a bearer token or the cookie
    from /?token=... (which is not the token itself) lets a request in."""
    source = StateFileSource(config, tmp_path / "state.json", None)
    listen = Listen("0.0.0.0", 0)
    async with served(config, source, listen=listen, token="t0ken-abc") as client:
        bare = await client.get("/api/status")
        wrong = await client.get("/api/status", headers={"Authorization": "Bearer nope"})
        bearer = await client.get("/api/status", headers={"Authorization": "Bearer t0ken-abc"})
        login = await client.get("/jobs?state=failed&token=t0ken-abc")
        cookie = login.headers["set-cookie"].split(";")[0]
        with_cookie = await client.get("/api/status", headers={"Cookie": cookie})
        events = await client.get("/api/events", headers={"Cookie": "x=1"})
    assert (bare.status_code, wrong.status_code, bearer.status_code) == (401, 401, 200)
    assert (login.status_code, login.headers["location"]) == (303, "/jobs?state=failed")
    assert "t0ken-abc" not in cookie
    assert "HttpOnly" in login.headers["set-cookie"]
    assert with_cookie.status_code == 200
    assert events.status_code == 401


async def test_loopback_refuses_foreign_host_names_and_cross_site_actions(
    config: OrchestratorConfig, tmp_path: Path
) -> None:
    """DNS rebinding and cross-site posts are refused; answers carry the security headers."""
    source = StateFileSource(config, tmp_path / "state.json", None)
    async with served(config, source) as client:
        rebound = await client.get("/api/status", headers={"Host": "attacker.example:8765"})
        local = await client.get("/api/status", headers={"Host": "localhost:8765"})
        cross = await client.post(
            "/api/backends/agent/rotate",
            headers={"X-Orchestrator-Action": "1", "Origin": "http://attacker.example"},
        )
    assert rebound.status_code == 403
    assert local.status_code == 200
    assert "frame-ancestors 'none'" in local.headers["content-security-policy"]
    assert cross.status_code == 403


def test_addresses_and_exposure_are_checked_before_serving() -> None:
    """A bad --listen and a public address without a token are usage errors (exit 2)."""
    assert parse_listen("[::1]:8080") == Listen("::1", 8080)
    assert parse_listen("localhost:0").loopback
    for bad in ("8080", "host:", "host:99999", ":80"):
        with pytest.raises(UsageError, match="not HOST:PORT"):
            parse_listen(bad)
    with pytest.raises(UsageError, match="--http-token"):
        check_exposure(Listen("0.0.0.0", 80), None)
    check_exposure(Listen("0.0.0.0", 80), "token")
    check_exposure(Listen("127.0.0.2", 80), None)


async def test_a_port_in_use_is_a_clear_error(config: OrchestratorConfig, tmp_path: Path) -> None:
    """Two dashboards on one port: the second says which address it could not use."""
    source = StateFileSource(config, tmp_path / "state.json", None)
    async with serving(Dashboard(config, source), LOOPBACK, None) as url:
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        with pytest.raises(UsageError, match=f"cannot listen on 127.0.0.1:{port}"):
            async with serving(Dashboard(config, source), Listen("127.0.0.1", port), None):
                pass
