"""``orchestrator schema job|result|status|event``: JSON Schemas of what goes in and out.

For editors and validators, and for scripts reading ``run --json``, ``status --json``
and ``events --json``: the schemas come from the same models that write that output.
"""

from __future__ import annotations

import json
from typing import Any

import typer

from .._events import EVENT_ADAPTER
from .._job import JobResult
from .._jobfile import job_json_schema
from .._status import OrchestratorStatus

schema_app = typer.Typer(help="Print JSON Schemas.", no_args_is_help=True)


def _print(schema: dict[str, Any]) -> None:
    print(json.dumps(schema, indent=2))


@schema_app.command("job")
def job_schema_command() -> None:
    """The JSON Schema of a job file (TOML job files have the same fields)."""
    _print(job_json_schema())


@schema_app.command("result")
def result_schema_command() -> None:
    """The JSON Schema of a result (``run --json`` lines, the spool's *.result.json)."""
    _print(JobResult.model_json_schema(mode="serialization"))


@schema_app.command("status")
def status_schema_command() -> None:
    """The JSON Schema of ``status --json``."""
    _print(OrchestratorStatus.model_json_schema(mode="serialization"))


@schema_app.command("event")
def event_schema_command() -> None:
    """The JSON Schema of one event (``events --json`` lines, events.jsonl), by ``kind``."""
    _print(EVENT_ADAPTER.json_schema(mode="serialization"))
