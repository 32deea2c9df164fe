"""Building attempt requests for adapter tests."""

from __future__ import annotations

from typing import Any

from orchestrator import AttemptRequest, BackendConfig, Job, ProcessOutput, ProviderConfig


def request(
    prompt: str = "say ping",
    *,
    backend: str = "qwen",
    provider: dict[str, Any] | None = None,
    job_model: str | None = None,
    mode: str = "edit",
    **backend_fields: Any,
) -> AttemptRequest:
    """An attempt of a job with ``prompt`` on ``backend`` (fields as keywords)."""
    return AttemptRequest(
        job=Job.model_validate({"prompt": prompt, "model": job_model, "mode": mode}),
        backend=BackendConfig(name=backend, **backend_fields),
        provider=None
        if provider is None
        else ProviderConfig(name="p", backend=backend, **provider),
    )


def finished(
    exit_code: int | None = 0, stdout: str = "", stderr: str = "", **fields: Any
) -> ProcessOutput:
    return ProcessOutput(exit_code=exit_code, stdout=stdout, stderr=stderr, **fields)
