"""The dashboard's routes: pages, the fragments the pages refresh themselves with,
the JSON API under ``/api/``, server-sent events and the two kinds of action.

Pages are rendered on the server (Jinja2); the page script only swaps in
re-rendered fragments when an event arrives, ticks countdowns and confirms
actions. So the browser never computes what a provider's state is.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .._errors import OrchestratorError
from .._event_text import seconds_text
from .._state_store import ACTIONS, ManualRequest
from ._access import AccessGuard
from ._chart import chart_svg
from ._hub import Dashboard
from ._jobs import JOB_STATES
from ._queue_view import QueueView
from ._views import feed_view, job_view, jobs_view, result_view, status_view

HERE = Path(__file__).parent
#: Seconds between keep-alive comments on the event stream (proxies close idle streams).
KEEP_ALIVE = 15.0
#: Events one slow page may fall behind by before it misses some (it then reloads data).
STREAM_BUFFER = 256
#: Events shown in the feed.
FEED_SHOWN = 40


def create_app(dashboard: Dashboard, *, token: str | None, loopback_only: bool) -> AccessGuard:
    """The ASGI app, guarded (see :mod:`._access`)."""
    pages = _Pages(dashboard)
    routes = [
        Route("/", pages.overview),
        Route("/jobs", pages.jobs),
        Route("/jobs/{job_id:path}", pages.job),
        Route("/fragments/overview", pages.overview_fragment),
        Route("/fragments/jobs", pages.jobs_fragment),
        Route("/fragments/job/{job_id:path}", pages.job_fragment),
        Route("/api/status", pages.api_status),
        Route("/api/jobs", pages.api_jobs),
        Route("/api/jobs/{job_id:path}/retry", pages.api_retry, methods=["POST"]),
        Route("/api/jobs/{job_id:path}", pages.api_job),
        Route("/api/events", pages.api_events),
        Route("/api/backends/{backend}/{action}", pages.api_manual, methods=["POST"]),
        Route("/favicon.ico", _favicon),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes)
    return AccessGuard(app, token=token, loopback_only=loopback_only)


def _templates() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["utc"] = _utc
    environment.filters["seconds"] = lambda value: "" if value is None else seconds_text(value)
    environment.filters["percent"] = lambda value: "" if value is None else f"{value:.0%}"
    environment.filters["thousands"] = lambda value: f"{value:,}"
    return environment


def _utc(moment: float | None) -> str:
    if moment is None:
        return ""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class _Pages:
    def __init__(self, dashboard: Dashboard) -> None:
        self._dashboard = dashboard
        self._templates = _templates()

    # -- data ------------------------------------------------------------------

    async def _status(self) -> dict[str, Any]:
        status = await self._dashboard.source.status()
        return status_view(status, self._dashboard.book, time.time())

    async def _queue(self) -> QueueView:
        failed = [job.job_id for job in self._dashboard.book.jobs(state="failed")]
        return await self._dashboard.source.queue(failed)

    async def _overview(self) -> dict[str, Any]:
        dashboard = self._dashboard
        queue = await self._queue()
        return {
            "status": await self._status(),
            "queue": queue,
            "chart": chart_svg(dashboard.book.chart()),
            "feed": feed_view(list(dashboard.feed)[-FEED_SHOWN:]),
            "recent": [job_view(job, queue) for job in dashboard.book.jobs()[:8]],
        }

    async def _jobs(self, request: Request) -> dict[str, Any]:
        filters = {key: request.query_params.get(key, "") for key in ("state", "backend", "q")}
        data = jobs_view(self._dashboard.book, await self._queue(), filters)
        return data | {"filters": filters, "states": JOB_STATES}

    async def _job(self, job_id: str) -> dict[str, Any] | None:
        job = self._dashboard.book.job(job_id)
        result = result_view(await self._dashboard.source.result(job_id))
        if job is None and result is None:
            return None
        return {
            "job": job_view(job, await self._queue()) if job is not None else None,
            "job_id": job_id,
            "result": result,
        }

    # -- pages -------------------------------------------------------------------

    def _page(self, template: str, **context: Any) -> HTMLResponse:
        context |= {
            "source": self._dashboard.source.label,
            "mode": self._dashboard.source.mode,
            "backends": list(self._dashboard.config.backends),
            "now": time.time(),
        }
        html = self._templates.get_template(template).render(**context)
        return HTMLResponse(html)

    async def overview(self, request: Request) -> Response:
        return self._page("overview.html", **await self._overview())

    async def overview_fragment(self, request: Request) -> Response:
        return self._page("_overview.html", **await self._overview())

    async def jobs(self, request: Request) -> Response:
        return self._page("jobs.html", **await self._jobs(request))

    async def jobs_fragment(self, request: Request) -> Response:
        return self._page("_jobs.html", **await self._jobs(request))

    async def job(self, request: Request) -> Response:
        """A job's timeline; a job not seen yet gets a page that shows it once it appears,
        so it can be opened before the job runs (``/api/jobs/<id>`` says 404)."""
        job_id = request.path_params["job_id"]
        found = await self._job(job_id) or {"job_id": job_id, "job": None, "result": None}
        return self._page("job.html", **found)

    async def job_fragment(self, request: Request) -> Response:
        job_id = request.path_params["job_id"]
        found = await self._job(job_id) or {"job_id": job_id, "job": None, "result": None}
        return self._page("_job.html", **found)

    # -- API ---------------------------------------------------------------------

    async def api_status(self, request: Request) -> Response:
        return JSONResponse(await self._status())

    async def api_jobs(self, request: Request) -> Response:
        data = await self._jobs(request)
        return JSONResponse(
            {key: data[key] for key in ("jobs", "queued", "queued_total", "counts")}
        )

    async def api_job(self, request: Request) -> Response:
        job_id = request.path_params["job_id"]
        found = await self._job(job_id)
        if found is None:
            return JSONResponse({"error": f"no job {job_id} is known"}, status_code=404)
        return JSONResponse({"job": found["job"], "result": found["result"]})

    async def api_manual(self, request: Request) -> Response:
        backend, action = request.path_params["backend"], request.path_params["action"]
        if backend not in self._dashboard.config.backends:
            known = ", ".join(self._dashboard.config.backends)
            return JSONResponse({"error": f"unknown backend {backend} (known: {known})"}, 404)
        if action not in ACTIONS:
            return JSONResponse({"error": f"unknown action {action} (rotate or reset)"}, 404)
        request_made = ManualRequest(action, backend)
        return await _acted(
            lambda: self._dashboard.source.apply(request_made),
            lambda current: {"backend": backend, "action": action, "current": current},
        )

    async def api_retry(self, request: Request) -> Response:
        job_id = request.path_params["job_id"]
        return await _acted(
            lambda: self._dashboard.source.retry(job_id),
            lambda new_id: {"job_id": job_id, "queued_as": new_id},
        )

    async def api_events(self, request: Request) -> Response:
        """Server-sent events: each event as JSON, as it happens (``?replay=N``: the last
        N first)."""
        try:
            replay = min(max(int(request.query_params.get("replay", "0")), 0), 1000)
        except ValueError:
            return JSONResponse({"error": "replay must be a number"}, status_code=400)
        past = list(self._dashboard.feed)[-replay:] if replay else []
        return StreamingResponse(
            self._stream(past),
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    async def _stream(self, past: list[Any]) -> AsyncIterator[str]:
        async with self._dashboard.channel.subscribe(STREAM_BUFFER) as subscription:
            yield "retry: 2000\n\n"
            for event in past:
                yield f"data: {event.model_dump_json()}\n\n"
            while True:
                with anyio.move_on_after(KEEP_ALIVE) as quiet:
                    try:
                        event = await subscription.receive()
                    except anyio.EndOfStream:
                        return  # the dashboard is shutting down
                if quiet.cancelled_caught:
                    yield ": keep-alive\n\n"
                    continue
                yield f"data: {event.model_dump_json()}\n\n"


async def _favicon(request: Request) -> Response:
    return RedirectResponse("/static/icon.svg", status_code=301)


async def _acted(action: Callable[[], Any], answer: Callable[[Any], dict[str, Any]]) -> Response:
    """Run an action; a user error is a 409 with its message, not a server error."""
    try:
        outcome = await action()
    except OrchestratorError as exc:
        return JSONResponse({"error": str(exc).removeprefix("Error: ")}, status_code=409)
    return JSONResponse(answer(outcome))
