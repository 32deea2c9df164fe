"""The hand-over digest, read from real transcripts of the four pinned CLIs.

tests/fixtures/transcripts/ holds each CLI's session file right after the
attempt the mock cut off (a harmless tool call answered, then HTTP 429),
recorded on 2026-11-27 with claude 2.1.197, qwen 0.15.10, gemini 0.61.0 and
codex 0.169.0 (tests/e2e/mock_api.py's ``["tool", "rate-limit-bare"]``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.resume import handover_prompt, transcript_digest

TRANSCRIPTS = Path(__file__).parent.parent / "fixtures" / "transcripts"
TOOL_CALLED = {
    "claude-2.1.197": "tool call: Read",
    "qwen-0.15.10": "tool call: list_directory",
    "gemini-0.61.0": "tool call: list_directory",
    "codex-0.169.0": "tool call: exec_command",
}


@pytest.mark.parametrize("cli", sorted(TOOL_CALLED))
def test_each_clis_transcript_gives_the_prompt_and_the_work(cli: str) -> None:
    digest = transcript_digest(TRANSCRIPTS / f"{cli}.jsonl", lambda text: text)
    lines = digest.splitlines()
    assert lines[0] == "user: PROMPT-ONE list the files"  # once, as the user's
    assert sum("PROMPT-ONE" in line for line in lines) == 1
    assert any(line.startswith(TOOL_CALLED[cli]) for line in lines)
    assert any(line.startswith("tool result: ") for line in lines)
    for boilerplate in ("<system-reminder>", "<session_context>", "permissions instructions"):
        assert boilerplate not in digest  # what the CLI adds to every request is not work


def test_the_digest_keeps_the_latest_work_within_its_bound(tmp_path: Path) -> None:
    transcript = tmp_path / "long.jsonl"
    steps = [{"role": "assistant", "text": f"step {n} " + "x" * 200} for n in range(200)]
    transcript.write_text("".join(json.dumps(step) + "\n" for step in steps))
    digest = transcript_digest(transcript, lambda text: text, limit=2000)
    assert len(digest) <= 2000
    assert digest.startswith("(earlier steps left out)")
    assert "step 199 " in digest
    assert "step 0 " not in digest


def test_secrets_are_redacted_before_the_bound_is_applied(tmp_path: Path) -> None:
    transcript = tmp_path / "t.jsonl"
    transcript.write_text(json.dumps({"role": "user", "text": "key sk-abc-123456"}) + "\n")
    digest = transcript_digest(transcript, lambda text: text.replace("sk-abc-123456", "***"))
    assert digest == "user: key ***"


def test_a_missing_or_unreadable_transcript_gives_no_digest(tmp_path: Path) -> None:
    assert transcript_digest(tmp_path / "gone.jsonl", lambda text: text) == ""
    (tmp_path / "bad.jsonl").write_bytes(b"\xff\xfe not json\n{cut")
    assert transcript_digest(tmp_path / "bad.jsonl", lambda text: text) == ""


def test_the_handover_prompt_starts_with_the_original_prompt() -> None:
    prompt = handover_prompt("fix the bug", "qwen", "user: fix the bug", " M a.py")
    assert prompt.startswith("fix the bug\n\n---\n\nHand-over: another coding agent (qwen)")
    assert prompt.endswith("Changes in the working tree so far:\n M a.py")
    assert handover_prompt("fix the bug", "qwen", "", "") == "fix the bug"
