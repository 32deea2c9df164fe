"""``orchestrator providers test``: will each provider's limit be seen, and how fast?"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import anyio
import typer
from rich.console import Console
from rich.table import Table

from ..limits._drill import DrillReport, describe, drill
from ._build import configure_logging, load_and_warn
from ._options import ConfigDirOption, JsonOption


def drill_command(
    backends: Annotated[
        list[str] | None,
        typer.Argument(help="Backends to test [default: every backend].", show_default=False),
    ] = None,
    seconds: Annotated[
        float,
        typer.Option("--seconds", min=1, help="How long each provider's drill job may take."),
    ] = 60.0,
    json_output: JsonOption = False,
    config_dir: ConfigDirOption = None,
) -> None:
    """Run each API-key provider's real CLI once against a loopback API answering 429.

    The provider's own command, options and settings, its base URL pointed at
    the mock, through the same detection a job uses: reports per provider how
    fast the limit was seen, how it was classified and the cooldown it would
    get. No request reaches the real provider and the rotation state is not
    touched. Exit 0 when every tested provider's limit was seen, 1 otherwise.
    """
    configure_logging()
    config = load_and_warn(config_dir)
    for backend in backends or ():
        config.backend(backend)  # unknown -> exit 2 listing the known ones
    reports = anyio.run(lambda: drill(config, backends or (), job_seconds=seconds))
    if json_output:
        for report in reports:
            print(_as_json(report))
    else:
        _print_reports(reports)
    tested = [report for report in reports if report.skipped is None]
    raise typer.Exit(0 if all(report.detected for report in tested) else 1)


def _as_json(report: DrillReport) -> str:
    return json.dumps({**asdict(report), "detected": report.detected})


def _print_reports(reports: list[DrillReport]) -> None:
    table = Table(title="limit drill (a loopback API answering 429)", title_justify="left")
    for column in ("provider", "result", "classified as", "cooldown", "requests"):
        table.add_column(column)
    for report in reports:
        result, outcome, cooldown = describe(report)
        requests = str(report.requests) if report.skipped is None else ""
        table.add_row(f"{report.backend}/{report.provider}", result, outcome, cooldown, requests)
    Console(highlight=False).print(table)
    for report in reports:
        if report.skipped is None and not report.detected:
            print(f"{report.backend}/{report.provider}: {report.message}")
