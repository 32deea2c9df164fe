"""Job files: TOML and JSON, prompt_file, relative paths, and errors naming file and field."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator import JobMode
from orchestrator._jobfile import (
    MAX_JOB_FILE_BYTES,
    JobFileError,
    is_job_file,
    job_json_schema,
    load_job_file,
)


def test_toml_job_with_every_field(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
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
        ("a.toml", 'prompt = "x"\nmodel = "--yolo"\n', "field 'model': must not start with '-'"),
        ("a.json", '{"prompt": "x", "model": "m\\nx"}', "field 'model'"),
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


@pytest.mark.parametrize(
    ("job", "valid"),
    [
        ({"prompt": "x"}, True),
        ({"prompt_file": "task.md", "id": "fix-42"}, True),
        ({"backend": "qwen"}, False),  # neither prompt nor prompt_file
        ({"prompt": "x", "id": "../escape"}, False),
        ({"prompt": "x", "id": ".hidden"}, False),
    ],
)
def test_the_schema_judges_job_files_like_the_loader(job: dict[str, str], valid: bool) -> None:
    import jsonschema

    errors = list(jsonschema.Draft202012Validator(job_json_schema()).iter_errors(job))
    assert (not errors) is valid


@pytest.mark.parametrize(
    ("text", "field", "problem"),
    [
        ('prompt_file = "/etc/passwd"\n', "prompt_file", "outside the job file's directory"),
        ('prompt_file = "../secret.txt"\n', "prompt_file", "outside the job file's directory"),
        ('prompt_file = "link.txt"\n', "prompt_file", "outside the job file's directory"),
        ('prompt = "x"\ncwd = "no-such-dir"\n', "cwd", "is not a directory"),
        ('prompt = "x"\ncwd = "a\\u0000b"\n', "cwd", "NUL"),
        ('prompt = "a\\u0000b"\n', "prompt", "NUL"),
        ('prompt = "x"\ntimeout = "soon"\n', "timeout", "number"),
        ('prompt = "x"\nmetadata = 3\n', "metadata", "dictionary"),
        ("prompt = " + "[" * 5000 + "]" * 5000 + "\n", None, "nested too deeply"),
    ],
)
def test_hostile_job_files_are_refused_clearly(
    tmp_path: Path, text: str, field: str | None, problem: str
) -> None:
    (tmp_path / "secret.txt").write_text("do not send")
    jobs = tmp_path / "spool"
    jobs.mkdir()
    (jobs / "link.txt").symlink_to(tmp_path / "secret.txt")  # a link out of the folder
    path = jobs / "evil.toml"
    path.write_text(text)
    with pytest.raises(JobFileError) as raised:
        load_job_file(path)
    assert raised.value.field == field
    assert problem in str(raised.value)
    assert "do not send" not in str(raised.value)


def test_a_binary_job_file_is_refused(tmp_path: Path) -> None:
    for name in ("blob.toml", "blob.json"):
        path = tmp_path / name
        path.write_bytes(b"\xff\xfe\x00\x01" * 100)
        with pytest.raises(JobFileError, match=r"UTF-8|invalid JSON"):
            load_job_file(path)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=2000), suffix=st.sampled_from([".toml", ".json"]))
def test_any_bytes_are_a_job_or_a_job_file_error(data: bytes, suffix: str) -> None:
    """Whatever lands in the spool, parsing ends in a job or a JobFileError, nothing else."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"fuzz{suffix}"
        path.write_bytes(data)
        outcome = parse_or_error(path)
        assert outcome == "a job" or str(path) in outcome


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(fields=st.dictionaries(
    st.sampled_from(["id", "prompt", "backend", "model", "mode", "cwd", "timeout",
                     "idle_timeout", "metadata", "prompt_file", "other"]),
    JSON_VALUES, max_size=6,
))  # fmt: skip
def test_any_fields_are_a_job_or_an_error_naming_a_field(fields: dict[str, object]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "fuzz.json"
        path.write_text(json.dumps(fields))
        outcome = parse_or_error(path)
        assert outcome == "a job" or str(path) in outcome


def parse_or_error(path: Path) -> str:
    """ "a job", or the JobFileError's message; any other exception fails the test."""
    try:
        job = load_job_file(path)
    except JobFileError as exc:
        return str(exc)
    assert job.prompt.strip()
    return "a job"
