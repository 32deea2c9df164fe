"""Job files: TOML and JSON, prompt_file, relative paths, and errors naming file and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator import JobMode
from orchestrator._jobfile import (
    MAX_JOB_FILE_BYTES,
    JobFileError,
    is_job_file,
    job_json_schema,
    load_job_file,
)


def test_toml_job_with_every_field(tmp_path: Path) -> None:
    path = tmp_path / "fix.toml"
    path.write_text(
        'id = "fix-1"\nprompt = "fix it"\nbackend = "qwen"\nmodel = "m"\nmode = "noedit"\n'
        'cwd = "repo"\ntimeout = 60\nidle_timeout = 5\n[metadata]\nticket = "T-1"\n'
    )
    job = load_job_file(path)
    assert (job.id, job.prompt, job.backend, job.model) == ("fix-1", "fix it", "qwen", "m")
    assert job.mode is JobMode.NOEDIT
    assert job.cwd == tmp_path / "repo"
    assert (job.timeout, job.idle_timeout) == (60, 5)
    assert job.metadata == {"ticket": "T-1"}


def test_json_job_takes_its_id_from_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "docs-7.json"
    path.write_text(json.dumps({"prompt": "write docs"}))
    assert load_job_file(path).id == "docs-7"


def test_prompt_file_is_read_relative_to_the_base_dir(tmp_path: Path) -> None:
    (tmp_path / "incoming").mkdir()
    (tmp_path / "incoming" / "prompt.md").write_text("long prompt\n")
    path = tmp_path / "elsewhere.toml"
    path.write_text('prompt_file = "prompt.md"\n')
    job = load_job_file(path, base_dir=tmp_path / "incoming")
    assert job.prompt == "long prompt\n"


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("a.toml", 'prompt = "x"\ntimeout = -1\n', "field 'timeout': input should be greater"),
        ("a.toml", 'prompt = "x"\nbogus = 1\n', "field 'bogus': unknown field"),
        ("a.toml", "timeout = 1\n", "field 'prompt': missing (give 'prompt' or 'prompt_file')"),
        ("a.toml", 'prompt = "x\n', "invalid TOML"),
        ("a.json", '{"prompt": ', "invalid JSON"),
        ("a.json", '["prompt"]', "the top level must be an object"),
        ("a.json", b'{"prompt": "\xff"}', "not valid UTF-8"),
        ("a.toml", 'prompt = "x"\nprompt_file = "p"\n', "either 'prompt' or 'prompt_file'"),
        ("a.toml", 'prompt_file = "missing.md"\n', "field 'prompt_file': '"),
        ("a.toml", 'prompt = "x"\nmode = "sometimes"\n', "field 'mode'"),
        ("a b.toml", 'prompt = "x"\n', "field 'id'"),
        ("a.yaml", 'prompt: "x"\n', "job files end in .toml or .json"),
    ],
)
def test_bad_job_files_name_file_and_field(
    tmp_path: Path, name: str, content: str | bytes, expected: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(JobFileError) as caught:
        load_job_file(path)
    message = str(caught.value)
    assert message.startswith(f"Error: job file '{path}'")
    assert expected in message
    assert caught.value.exit_code == 2


def test_values_are_never_quoted_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "a.toml"
    path.write_text('prompt = "x"\ntimeout = "sk-secret-value"\n')
    with pytest.raises(JobFileError) as caught:
        load_job_file(path)
    assert "sk-secret-value" not in str(caught.value)


def test_oversized_job_and_prompt_files_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    big.write_text('prompt = "' + "x" * MAX_JOB_FILE_BYTES + '"\n')
    with pytest.raises(JobFileError, match="larger than"):
        load_job_file(big)
    (tmp_path / "huge.md").write_bytes(b"x" * (MAX_JOB_FILE_BYTES + 1))
    small = tmp_path / "small.toml"
    small.write_text('prompt_file = "huge.md"\n')
    with pytest.raises(JobFileError, match=r"'huge\.md' is larger than"):
        load_job_file(small)


def test_job_file_names() -> None:
    assert is_job_file(Path("a.toml"))
    assert is_job_file(Path("a.json"))
    assert not is_job_file(Path(".a.toml"))
    assert not is_job_file(Path("a.txt"))


def test_schema_offers_prompt_or_prompt_file() -> None:
    schema = job_json_schema()
    assert {"prompt", "prompt_file", "backend", "timeout"} <= set(schema["properties"])
    assert schema["oneOf"] == [{"required": ["prompt"]}, {"required": ["prompt_file"]}]
    assert "prompt" not in schema.get("required", [])
