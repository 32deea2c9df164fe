"""Work carried across a limit with the real CLIs (claude 2.1.197, qwen 0.15.10, gemini
0.61.0, codex 0.169.0) against mock APIs on 127.0.0.1.

Provider 1's mock answers the first request with a tool call (the agent works), then
429. The job continues on provider 2, whose mock must see the earlier conversation (the
prompt, the tool call) in its first request and the continuation prompt, not a restart:
once with both providers in one home, once with each provider's own home (its CLI's
home variable set: separate accounts), where the session is carried over first.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import anyio
import pytest

from orchestrator import AttemptOutcome, Job
from orchestrator._llm_config import DEFAULT_RESUME_PROMPT

from .conftest import CONFIG_DIR, PROTOCOL, StartMock, _write_settings, cli_environment
from .test_real_clis import mock_urls, run_job

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(240)]

#: Each CLI's own home variable: a provider that sets it is a separate account.
HOME_VARIABLE = {
    "claude": ("CLAUDE_CONFIG_DIR", ".claude"),
    "qwen": ("QWEN_HOME", ".qwen"),
    "gemini": ("GEMINI_CLI_HOME", ""),
    "codex": ("CODEX_HOME", ".codex"),
}
#: How each protocol carries the tool call of the mock's first answer.
TOOL_CALL_MARK = {
    "openai-chat": '"call_mock"',
    "anthropic": '"toolu_mock"',
    "gemini": '"functionCall"',
    "openai-responses": '"function_call"',
}


def separate_homes(directory: Path, backend: str, root: Path) -> Path:
    """examples/mock-apis with each of the backend's providers in its own home."""
    shutil.copytree(CONFIG_DIR, directory)
    variable, inner = HOME_VARIABLE[backend]
    metadata = directory / "provider_metadata.toml"
    text = metadata.read_text()
    for provider in ("limited", "answering"):
        home = root / f"home-{provider}"
        home.mkdir(parents=True)
        _write_settings(home)  # the settings the shared home has too
        where = home / inner if inner else home
        header = f"[{backend}.{provider}]\n"
        assert header in text
        text = text.replace(header, f'{header}{variable} = "{where}"\n')
    metadata.write_text(text)
    return directory


@pytest.mark.parametrize("homes", ["shared", "separate"])
@pytest.mark.parametrize("backend", ["claude", "codex", "qwen", "gemini"])
async def test_the_next_provider_resumes_the_session_instead_of_restarting(
    backend: str, homes: str, cli_bin: Path, start_mock: StartMock, tmp_path: Path
) -> None:
    protocol = PROTOCOL[backend]
    limited = start_mock(protocol, "answer")
    limited.script = ("tool", "rate-limit-bare")
    answering = start_mock(protocol, "answer", f"done on provider 2 of {backend}")
    urls = mock_urls(**{f"{backend}_limited": limited, f"{backend}_answering": answering})
    environment = cli_environment(tmp_path / "home", urls)
    config_dir = CONFIG_DIR
    if homes == "separate":
        config_dir = separate_homes(tmp_path / "config", backend, tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("hello\n")

    job = Job(prompt="PROMPT-ONE list the files", backend=backend, cwd=work)
    with anyio.fail_after(180):
        result, _, _ = await run_job(environment, job, config_dir)

    dump = result.model_dump_json(indent=2)
    assert result.status == "succeeded", dump
    assert (result.provider, result.output) == ("answering", f"done on provider 2 of {backend}")
    first, second = result.attempts
    assert first.outcome is AttemptOutcome.USAGE_LIMIT, dump
    assert limited.model_requests >= 2  # the agent worked (a tool call) before the limit
    assert first.session_id is not None
    assert (second.resumed_from, second.session_id) == (1, first.session_id), dump
    resumed = json.dumps(answering.bodies[0])
    assert "PROMPT-ONE list the files" in resumed  # the earlier conversation...
    assert TOOL_CALL_MARK[protocol] in resumed  # ...with the agent's work in it
    assert DEFAULT_RESUME_PROMPT[:40] in resumed  # and the continuation, not a restart
    assert answering.model_requests >= 1
    if homes == "separate":
        variable, inner = HOME_VARIABLE[backend]
        second_home = tmp_path / "home-answering" / inner
        copies = [p for p in second_home.rglob("*") if first.session_id in p.name]
        if backend == "gemini":  # session-<time>-<first 8 of the id>.jsonl
            copies = list(second_home.rglob(f"session-*-{first.session_id[:8]}.jsonl"))
        assert copies, f"no transcript carried into {second_home} ({variable})"


async def test_a_fallback_to_another_cli_hands_the_work_over(
    cli_bin: Path, start_mock: StartMock, tmp_path: Path
) -> None:
    """claude works, then every claude provider is limited: codex gets the prompt, a
    digest of claude's work (asserted at codex's mock), within its bound, no key in it."""
    claude = start_mock("anthropic", "answer")
    claude.script = ("tool", "rate-limit-bare")
    codex = start_mock("openai-responses", "answer", "finished by codex")
    urls = mock_urls(claude_limited=claude, codex_answering=codex)
    environment = cli_environment(tmp_path / "home", urls)
    config_dir = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, config_dir)
    llm = config_dir / "llm_config.toml"
    text = re.sub(
        r'(\[backends\.claude\]\n[^\[]*?)providers = \["limited", "answering"\]',
        r'\1providers = ["limited"]',
        llm.read_text(),
    )
    text = re.sub(
        r'(\[backends\.codex\]\n[^\[]*?)providers = \["limited", "answering"\]',
        r'\1providers = ["answering"]',
        text,
    )
    llm.write_text(
        text.replace(
            'order = ["qwen", "claude", "gemini", "codex"]', 'order = ["claude", "codex"]'
        ).replace('default = "qwen"', 'default = "claude"')
    )

    job = Job(prompt="PROMPT-ONE list the files", backend="claude")
    with anyio.fail_after(120):
        result, _, _ = await run_job(environment, job, config_dir)

    dump = result.model_dump_json(indent=2)
    assert result.status == "succeeded", dump
    assert (result.backend, result.output) == ("codex", "finished by codex")
    assert result.attempts[-1].handed_over_from == 1, dump
    body = json.dumps(codex.bodies[0])
    assert "Hand-over: another coding agent (claude)" in body
    assert "tool call: Read" in body  # claude's work, from its transcript
    assert "sk-ant-mock" not in body
    handed = next(
        item["content"][0]["text"]
        for item in codex.bodies[0]["input"]
        if item.get("role") == "user" and "Hand-over" in json.dumps(item)
    )
    assert len(handed) < 10_000
