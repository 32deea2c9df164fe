"""The ``orchestrator`` command line.

Every command takes ``--config-dir``; errors print one clear message on
stderr and exit with the error class's ``exit_code`` (2 for config and usage
errors), so scripts can rely on the number.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated

import typer

from .._errors import OrchestratorError
from ._config_commands import config_app
from ._dashboard_command import dashboard_command
from ._drill_command import drill_command
from ._events_command import events_command
from ._migrate_command import migrate_command
from ._run_command import run_command
from ._schema_command import schema_app
from ._state_commands import providers_app, status_command
from ._worker_command import worker_command

app = typer.Typer(
    name="orchestrator",
    help="Run coding-agent CLIs across providers, rotating when one hits its usage limit.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"provider-orchestrator {version('provider-orchestrator')}")
        raise typer.Exit(0)


@app.callback()
def _options(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_show_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Run coding-agent CLIs across providers, rotating when one hits its usage limit."""


app.command("run")(run_command)
app.command("worker")(worker_command)
app.command("status")(status_command)
providers_app.command("test")(drill_command)
app.add_typer(providers_app, name="providers")
app.command("events")(events_command)
app.command("dashboard")(dashboard_command)
app.add_typer(config_app, name="config")
app.add_typer(schema_app, name="schema")
app.command("migrate")(migrate_command)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the console script and ``python -m orchestrator``."""
    try:
        app(args=list(argv) if argv is not None else None, prog_name="orchestrator")
    except OrchestratorError as exc:
        print(exc, file=sys.stderr)
        sys.exit(exc.exit_code)
    except BaseExceptionGroup as group:
        # An error users can hit, raised inside a task group (a worker starting up):
        # the same one line and exit code as anywhere else, not a traceback.
        error = _only_user_error(group)
        if error is None:
            raise
        print(error, file=sys.stderr)
        sys.exit(error.exit_code)


def _only_user_error(group: BaseExceptionGroup[BaseException]) -> OrchestratorError | None:
    """The group's one OrchestratorError, if that is all it holds (however nested)."""
    matched, rest = group.split(OrchestratorError)
    if matched is None or rest is not None:
        return None
    leaves: list[BaseException] = []
    pending: list[BaseException] = [matched]
    while pending:
        current = pending.pop()
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        else:
            leaves.append(current)
    first = leaves[0]
    return first if isinstance(first, OrchestratorError) else None


__all__ = ["app", "main"]
