"""Backends written as auto-coder writes them (its examples/llm_config_with_fallback.toml):
options that already carry the model, the output mode and the prompt flag, with
placeholders. The argv has each once, no placeholder, and the answer is still parsed."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from adapters.claude import ADAPTER as CLAUDE
from adapters.gemini import ADAPTER as GEMINI
from adapters.qwen import ADAPTER as QWEN
from orchestrator import AttemptOutcome, Job, load_config
from orchestrator._adapter import expand_placeholders
from orchestrator._supervisor import Supervisor

from ..conftest import WriteConfig
from .helpers import finished, request

pytestmark = pytest.mark.anyio

ARGV_CLI = Path(__file__).parent.parent / "fakes" / "argv_cli.py"
#: Each backend's options as auto-coder's published example gives them.
AUTO_CODER_OPTIONS = {
    "codex": [
        "--model", "[model_name]", "--json", "--dangerously-bypass-approvals-and-sandbox",
        "--search",
    ],
    "gemini": ["--model", "[model_name]", "--output-format", "stream-json", "--yolo", "--prompt"],
    "qwen": ["-y", "-m", "[model_name]", "--output-format", "stream-json", "--yolo", "-p"],
    "claude": [
        "--print", "--model", "[model_name]", "--output-format", "stream-json", "--verbose",
        "--dangerously-skip-permissions",
    ],
}  # fmt: skip
MODEL_FLAGS = {"-m", "--model"}
OUTPUT_FLAGS = {"-o", "--output-format", "--json"}


@pytest.mark.parametrize("backend", sorted(AUTO_CODER_OPTIONS))
async def test_each_flag_once_no_placeholder_and_the_answer_parsed(
    backend: str, write_config: WriteConfig
) -> None:
    options = json.dumps(AUTO_CODER_OPTIONS[backend])
    directory = write_config(
        f'[backends.{backend}]\nmodel = "the-model"\nproviders = ["fake"]\noptions = {options}\n',
        f"[{backend}.fake]\ncommand = {sys.executable!r}\nargs = [{str(ARGV_CLI)!r}]\n"
        f'FAKE_FORMAT = "{backend}"\n',
    )
    config = load_config(directory, environ={})
    result = await Supervisor(config).run_job(Job(prompt="do it", backend=backend))
    assert result.status == "succeeded", result.error
    argv = json.loads(result.output)
    assert argv.count("the-model") == 1
    assert sum(arg in MODEL_FLAGS for arg in argv) == 1
    assert sum(arg in OUTPUT_FLAGS for arg in argv) == 1
    assert not any("[" in arg for arg in argv)
    assert argv[-1] == "do it"
    assert argv.count("-p") + argv.count("--prompt") <= 1


def test_a_placeholder_without_a_value_goes_with_its_flag() -> None:
    values = {"[sessionId]": None, "[model_name]": "m", "[model_provider]": None}
    options = ("--resume", "[sessionId]", "-m", "[model_name]", "-c", "p=[model_provider]", "-x")
    assert expand_placeholders(options, values) == ("-m", "m", "-x")


def test_settings_and_model_provider_fill_their_placeholders() -> None:
    req = request(
        backend="claude",
        model="opus",
        settings="/etc/claude/settings.json",
        model_provider="openrouter",
        options=("--settings", "[settings]", "-c", "model_provider=[model_provider]"),
    )
    assert req.options == (
        "--settings", "/etc/claude/settings.json", "-c", "model_provider=openrouter",
    )  # fmt: skip


def test_a_session_placeholder_in_the_options_is_dropped_for_a_new_session() -> None:
    req = request(backend="claude", options=("--resume", "[sessionId]", "--verbose"))
    assert req.options == ("--verbose",)
    assert replace(req, resume_session="abc").options == ("--resume", "abc", "--verbose")


def test_an_output_mode_the_adapter_cannot_read_is_a_load_time_warning(
    write_config: WriteConfig,
) -> None:
    directory = write_config(
        '[backends.claude]\noptions = ["--output-format", "text"]\n'
        '[backends.qwen]\noptions_for_noedit = ["-o=json"]\n'
    )
    config = load_config(directory, environ={})
    (warning,) = [w for w in config.warnings if w.key == "options"]
    assert warning.table == "backends.claude"
    assert "--output-format text chooses an output mode the claude adapter does not read" in str(
        warning
    )
    assert not [w for w in config.warnings if w.key == "options_for_noedit"]  # json is read


def test_resume_options_that_choose_the_session_get_no_second_resume_flag() -> None:
    """auto-coder's gemini example: options_for_resume = ["--resume", "latest"]."""
    req = replace(
        request(backend="gemini", options_for_resume=("--resume", "latest")),
        resume_session="abc",
    )
    argv = GEMINI.build(req).argv
    assert argv.count("--resume") == 1
    assert argv[1:3] == ("--resume", "latest")


CLAUDE_LIMIT_LINE = json.dumps(
    {"type": "assistant", "message": {"content": []}, "error": "rate_limit", "session_id": "s"}
)


def test_a_json_usage_marker_matches_a_line_holding_its_keys_and_values() -> None:
    """auto-coder's claude marker {"type":"assistant","error":"rate_limit"} is a subset
    match, not a substring: the real line has other keys in between."""
    req = request(backend="claude", usage_markers=('{"type":"assistant","error":"rate_limit"}',))
    scanner = CLAUDE.scanner(req)
    verdict = scanner.feed("stdout", CLAUDE_LIMIT_LINE + "\n")
    assert verdict is not None
    assert verdict.outcome is AttemptOutcome.USAGE_LIMIT
    other = json.dumps({"type": "assistant", "error": "other"})
    assert CLAUDE.scanner(req).feed("stdout", other + "\n") is None
    failed = CLAUDE.classify(req, finished(1, stdout=CLAUDE_LIMIT_LINE))
    assert failed.outcome is AttemptOutcome.USAGE_LIMIT


def test_replace_usage_markers_drops_the_adapters_texts_only() -> None:
    """auto-coder's meaning: its configured list replaces the defaults."""
    kept = request(usage_markers=("credit exhausted",))
    replaced = request(usage_markers=("credit exhausted",), replace_usage_markers=True)
    quota = finished(1, stderr="Error: quota exceeded")
    assert QWEN.classify(kept, quota).outcome is AttemptOutcome.USAGE_LIMIT
    assert QWEN.classify(replaced, quota).outcome is not AttemptOutcome.USAGE_LIMIT
    credit = finished(1, stderr="Error: credit exhausted")
    assert QWEN.classify(replaced, credit).outcome is AttemptOutcome.USAGE_LIMIT
