"""Job files: one job per TOML or JSON file, checked before anything runs.

A job file holds the job model's fields; ``prompt_file`` may stand in for an
inline ``prompt``. Relative paths (``prompt_file``, ``cwd``) are resolved
against the directory the file was submitted in, so a spool can move the file
without changing what it means. When the file gives no ``id``, the job id is
the file's name without its extension.

A bad file raises ``JobFileError`` naming the file and the field; its values
are never quoted, as prompts may carry secrets.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pydantic

from ._errors import ConfigError, OrchestratorError
from ._job import JOB_ID_PATTERN, Job
from ._toml import parse_toml

#: Larger job files (and prompt files) are refused before they are parsed.
MAX_JOB_FILE_BYTES = 1024 * 1024
JOB_FILE_SUFFIXES = (".toml", ".json")
#: Names a spool leaves in ``incoming/`` for job files to name as ``prompt_file``.
PROMPT_FILE_SUFFIXES = (".prompt", ".md", ".txt")


class JobFileError(OrchestratorError):
    """A job file that cannot become a job; the message names the file and field."""

    exit_code = 2

    def __init__(self, path: Path, problem: str, field: str | None = None) -> None:
        where = f"job file '{path}'" + (f", field '{field}'" if field else "")
        super().__init__(f"Error: {where}: {problem}")
        self.path = path
        self.field = field


def is_job_file(path: Path) -> bool:
    """True for the names a spool or ``run`` treats as job files."""
    return path.suffix in JOB_FILE_SUFFIXES and not path.name.startswith(".")


def is_prompt_file(name: str) -> bool:
    """True for the names a spool never takes as jobs: prompts beside their job files."""
    return name.endswith(PROMPT_FILE_SUFFIXES)


def load_job_file(path: Path, *, base_dir: Path | None = None) -> Job:
    """Read ``path`` into a ``Job``.

    Args:
        path: a ``.toml`` or ``.json`` file.
        base_dir: where relative paths in the file point from; defaults to
            the file's own directory.

    Raises:
        JobFileError: unreadable, too large, not TOML/JSON, or not a valid job.
    """
    data = _read_limited(path, path)
    if path.suffix == ".json":
        fields = _parse_json(data, path)
    elif path.suffix == ".toml":
        try:
            fields = parse_toml(data, path)
        except ConfigError as exc:
            line = f" (line {exc.line})" if exc.line else ""
            raise JobFileError(path, exc.message + line) from None
    else:
        raise JobFileError(path, "job files end in .toml or .json")
    return job_from_fields(fields, path, base_dir or path.parent)


def job_from_fields(fields: dict[str, Any], path: Path, base_dir: Path) -> Job:
    """Build the job from a parsed file's top-level table."""
    fields = dict(fields)
    if "prompt_file" in fields:
        if "prompt" in fields:
            raise JobFileError(path, "give either 'prompt' or 'prompt_file', not both")
        fields["prompt"] = _read_prompt_file(fields.pop("prompt_file"), path, base_dir)
    if "cwd" in fields and isinstance(fields["cwd"], str):
        if "\x00" in fields["cwd"]:
            raise JobFileError(path, "must not contain NUL characters", "cwd")
        cwd = base_dir / Path(fields["cwd"]).expanduser()
        if not cwd.is_dir():
            raise JobFileError(path, f"'{fields['cwd']}' is not a directory", "cwd")
        fields["cwd"] = cwd
    id_from_name = "id" not in fields
    fields.setdefault("id", path.name.rsplit(".", 1)[0])
    try:
        return Job.model_validate(fields)
    except pydantic.ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        field = ".".join(str(part) for part in error["loc"]) or None
        if error["type"] == "extra_forbidden":
            problem = "unknown field"
        elif error["type"] == "missing":
            problem = "missing (give 'prompt' or 'prompt_file')"
        else:
            message = error["msg"].removeprefix("Value error, ")
            problem = message[0].lower() + message[1:]
        if field == "id" and id_from_name:
            problem += " (the id comes from the file name; set 'id' in the file)"
        raise JobFileError(path, problem, field) from None


def job_json_schema() -> dict[str, Any]:
    """The JSON Schema of a job file (``orchestrator schema job``)."""
    schema = Job.model_json_schema()
    schema["title"] = "Job file"
    properties = schema.setdefault("properties", {})
    properties["prompt_file"] = {
        "type": "string",
        "title": "Prompt File",
        "description": "a file holding the prompt, relative to the job file; instead of prompt",
    }
    required = [name for name in schema.get("required", []) if name != "prompt"]
    if required:
        schema["required"] = required
    else:
        schema.pop("required", None)  # one of prompt / prompt_file is, below
    schema["oneOf"] = [{"required": ["prompt"]}, {"required": ["prompt_file"]}]
    properties["id"] = {
        **properties.get("id", {}),
        "pattern": JOB_ID_PATTERN.pattern,
        "description": "names the result file; the job file's name (without extension) "
        "when not given",
    }
    return schema


def _read_limited(path: Path, job_file: Path, field: str | None = None) -> bytes:
    """At most ``MAX_JOB_FILE_BYTES`` + 1 bytes of a regular file.

    Opened non-blocking and checked before reading: a FIFO (or device, or
    socket) named like a job would otherwise block the worker's event loop
    until someone writes to it.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise JobFileError(job_file, f"'{path}' not found", field) from None
    except OSError as exc:
        raise JobFileError(job_file, f"cannot read '{path}': {exc.strerror}", field) from None
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise JobFileError(job_file, f"'{path.name}' is not a regular file", field)
        with os.fdopen(descriptor, "rb", closefd=False) as handle:
            data = handle.read(MAX_JOB_FILE_BYTES + 1)
    except OSError as exc:
        raise JobFileError(job_file, f"cannot read '{path}': {exc.strerror}", field) from None
    finally:
        os.close(descriptor)
    if len(data) > MAX_JOB_FILE_BYTES:
        problem = f"'{path.name}' is larger than {MAX_JOB_FILE_BYTES} bytes"
        raise JobFileError(job_file, problem, field)
    return data


def _parse_json(data: bytes, path: Path) -> dict[str, Any]:
    try:
        fields = json.loads(data)
    except UnicodeDecodeError:
        raise JobFileError(path, "file is not valid UTF-8") from None
    except json.JSONDecodeError as exc:
        raise JobFileError(path, f"invalid JSON: {exc.msg} (line {exc.lineno})") from None
    except RecursionError:
        raise JobFileError(path, "invalid JSON: nested too deeply") from None
    if not isinstance(fields, dict):
        raise JobFileError(path, "the top level must be an object of job fields")
    return fields


def _read_prompt_file(value: object, path: Path, base_dir: Path) -> str:
    """The prompt file's text; only files inside ``base_dir`` may be read.

    A job file comes from whoever can drop files into the spool: without the
    fence, ``prompt_file = "/home/me/.ssh/id_rsa"`` would send that file to a
    provider as the prompt.
    """
    if not isinstance(value, str) or not value:
        raise JobFileError(path, "must be a file name", "prompt_file")
    prompt_path = (base_dir / value).resolve()
    if Path(value).is_absolute() or not prompt_path.is_relative_to(base_dir.resolve()):
        raise JobFileError(
            path,
            f"'{value}' is outside the job file's directory; prompt files must be inside it",
            "prompt_file",
        )
    data = _read_limited(prompt_path, path, "prompt_file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise JobFileError(path, f"'{value}' is not valid UTF-8", "prompt_file") from None
