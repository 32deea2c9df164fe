"""`orchestrator schema job|result|status|event`: the schemas validate the real output."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from ..conftest import WriteConfig
from ..fakes.config_text import backend, provider
from .conftest import Cli


def schema(cli: Cli, kind: str) -> dict[str, Any]:
    result = cli("schema", kind)
    assert result.returncode == 0, result.stderr
    loaded: dict[str, Any] = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(loaded)
    return loaded


def test_the_schemas_validate_run_status_and_events_output(
    cli: Cli, write_config: WriteConfig
) -> None:
    cli.config_dir = write_config(
        backend("agent", ["busy", "spare"]),
        provider("agent", "busy", "limit", FAKE_RETRY_AFTER="30") + provider("agent", "spare"),
    )
    succeeded = cli("run", "--json", "--prompt", "hi")
    failed = cli("run", "--json", "--prompt", "hi", "--backend", "agent", "--timeout", "0.001")
    results = [json.loads(succeeded.stdout), json.loads(failed.stdout)]
    assert [r["status"] for r in results] == ["succeeded", "failed"]
    for result in results:
        jsonschema.validate(result, schema(cli, "result"))
    status = json.loads(cli("status", "--json").stdout)
    jsonschema.validate(status, schema(cli, "status"))
    event_schema = schema(cli, "event")
    events = [json.loads(line) for line in cli("events", "--json").stdout.splitlines()]
    kinds = {event["kind"] for event in events}
    assert {"job_queued", "attempt_finished", "provider_cooled_down", "job_succeeded"} <= kinds
    for event in events:
        jsonschema.validate(event, event_schema)


def test_a_result_that_is_not_one_is_refused(cli: Cli) -> None:
    bad = {"job_id": "j", "status": "maybe"}
    result_schema = schema(cli, "result")
    with pytest.raises(jsonschema.ValidationError, match="maybe"):
        jsonschema.validate(bad, result_schema)
