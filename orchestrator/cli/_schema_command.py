"""``orchestrator schema job``: the JSON Schema of a job file, for editors and validators."""

from __future__ import annotations

import json

import typer

from .._jobfile import job_json_schema

schema_app = typer.Typer(help="Print JSON Schemas.", no_args_is_help=True)


@schema_app.command("job")
def job_schema_command() -> None:
    """The JSON Schema of a job file (TOML job files have the same fields)."""
    print(json.dumps(job_json_schema(), indent=2))
