"""Job and result models validate at the boundary."""

from __future__ import annotations

import pydantic
import pytest

from orchestrator import Job, JobMode, JobResult


def test_defaults() -> None:
    """A job needs only a prompt; it gets a fresh id and edit mode."""
    first, second = Job(prompt="hi"), Job(prompt="hi")
    assert first.id != second.id
    assert first.mode is JobMode.EDIT
    assert first.backend is None


@pytest.mark.parametrize(
    "fields",
    [
        {"prompt": ""},
        {"prompt": "   "},
        {"prompt": "a\x00b"},
        {"prompt": "x", "id": "../etc"},
        {"prompt": "x", "id": ".hidden"},
        {"prompt": "x", "timeout": 0},
        {"prompt": "x", "idle_timeout": -1},
        {"prompt": "x", "mode": "write"},
        {"prompt": "x", "colour": "red"},
        {"prompt": "x", "model": "--yolo"},
        {"prompt": "x", "model": "--openai-base-url=http://attacker.invalid/v1"},
        {"prompt": "x", "model": "-m"},
        {"prompt": "x", "model": "qwen\n--yolo"},
        {"prompt": "x", "model": "qwen\x00"},
        {"prompt": "x", "model": "qwen\ud800"},
        {"prompt": "x", "model": " "},
        {"prompt": "x", "model": "m" * 257},
    ],
)
def test_invalid_jobs_are_refused(fields: dict[str, object]) -> None:
    """Empty or NUL prompts, unsafe ids, bad timeouts, modes and unknown fields are refused."""
    with pytest.raises(pydantic.ValidationError):
        Job.model_validate(fields)


def test_result_round_trips_through_json() -> None:
    """A result serialises to JSON and back unchanged."""
    result = JobResult(job_id="j1", status="failed", error="every provider is limited")
    assert JobResult.model_validate_json(result.model_dump_json()) == result


def test_ordinary_model_names_pass() -> None:
    """Model names as providers spell them are values, and stay as given."""
    for model in ("qwen3-coder-plus", "qwen/qwen3-coder:free", "claude-sonnet-4-5", "gpt-5.1"):
        assert Job(prompt="x", model=model).model == model


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"prompt": "a\\ud800b"}', "prompt"),
        ('{"prompt": "x", "model": "qwen\\u0000"}', "model"),
        ('{"prompt": "x", "backend": "qwen\\ud800"}', "backend"),
        ('{"prompt": "x", "backend": "qwen\\n"}', "backend"),
        ('{"prompt": "x", "metadata": {"ticket": ["ok", "\\ud800"]}}', "metadata"),
        ('{"prompt": "x", "metadata": {"\\u0000": 1}}', "metadata"),
        ('{"prompt": "x", "cwd": "/tmp/\\u0000"}', "cwd"),
    ],
)
def test_text_python_cannot_pass_on_is_refused_naming_the_field(raw: str, field: str) -> None:
    """NUL and lone surrogates, which no process, file or sink can take, fail validation
    (parsed as job files are, by the json module, which lets lone surrogates through)."""
    import json

    with pytest.raises(pydantic.ValidationError) as caught:
        Job.model_validate(json.loads(raw))
    assert caught.value.errors()[0]["loc"][0] == field
