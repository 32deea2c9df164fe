"""Finding a session's transcript in a CLI's home, and carrying it to another home."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from adapters.claude import CLAUDE_SESSIONS
from adapters.codex import CODEX_SESSIONS
from adapters.gemini import GEMINI_SESSIONS
from adapters.qwen import QWEN_SESSIONS
from orchestrator.resume import carry_transcript

SESSION = "1b0c6a4e-3f0e-4c1e-9a59-2f6d7c1e0a11"


def write(path: Path, text: str = "{}\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_each_cli_home_is_found_from_its_variables(tmp_path: Path) -> None:
    home = {"HOME": str(tmp_path)}
    assert CLAUDE_SESSIONS.root(home) == tmp_path / ".claude"
    assert CLAUDE_SESSIONS.root({**home, "CLAUDE_CONFIG_DIR": "/acct"}) == Path("/acct")
    assert QWEN_SESSIONS.root({**home, "QWEN_HOME": "/q"}) == Path("/q")
    assert QWEN_SESSIONS.root({"QWEN_HOME": "/q", "QWEN_RUNTIME_DIR": "/r"}) == Path("/r")
    assert GEMINI_SESSIONS.root({**home, "GEMINI_CLI_HOME": "/g"}) == Path("/g/.gemini")
    assert CODEX_SESSIONS.root({**home, "CODEX_HOME": "/c"}) == Path("/c")
    assert CODEX_SESSIONS.root({"HOME": "relative"}) is None
    assert CODEX_SESSIONS.root({}) is None


def test_transcripts_are_found_where_each_pinned_cli_wrote_them(tmp_path: Path) -> None:
    """The paths claude 2.1.197, qwen 0.15.10, gemini 0.61.0 and codex 0.169.0 used."""
    env = {"HOME": str(tmp_path)}
    claude = write(tmp_path / f".claude/projects/-work/{SESSION}.jsonl")
    qwen = write(tmp_path / f".qwen/projects/-work/chats/{SESSION}.jsonl")
    gemini = write(
        tmp_path / ".gemini/tmp/work/chats/session-2026-11-27T08-31-1b0c6a4e.jsonl",
        f'{{"sessionId":"{SESSION}"}}\n',
    )
    codex = write(
        tmp_path / f".codex/sessions/2026/11/27/rollout-2026-11-27T08-32-46-{SESSION}.jsonl"
    )
    assert CLAUDE_SESSIONS.find(env, SESSION) == claude
    assert QWEN_SESSIONS.find(env, SESSION) == qwen
    assert GEMINI_SESSIONS.find(env, SESSION) == gemini
    assert CODEX_SESSIONS.find(env, SESSION) == codex


def test_a_gemini_file_with_the_same_short_id_but_another_session_is_not_it(
    tmp_path: Path,
) -> None:
    env = {"HOME": str(tmp_path)}
    write(tmp_path / ".gemini/tmp/work/chats/session-x-1b0c6a4e.jsonl", '{"sessionId":"other"}\n')
    assert GEMINI_SESSIONS.find(env, SESSION) is None


def test_the_newest_of_several_copies_is_found(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    old = write(tmp_path / f".claude/projects/-a/{SESSION}.jsonl")
    new = write(tmp_path / f".claude/projects/-b/{SESSION}.jsonl")
    past = time.time() - 100
    os.utime(old, (past, past))
    assert CLAUDE_SESSIONS.find(env, SESSION) == new


def test_an_id_that_could_escape_the_glob_finds_nothing(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    write(tmp_path / ".claude/projects/-a/x.jsonl")
    for bad in ("*", "../x", "", "a/b"):
        assert CLAUDE_SESSIONS.find(env, bad) is None


def test_carrying_copies_to_the_same_place_under_the_next_home_owner_only(
    tmp_path: Path,
) -> None:
    first = {"HOME": str(tmp_path / "one")}
    second = {"HOME": str(tmp_path / "two")}
    transcript = write(tmp_path / f"one/.claude/projects/-work/{SESSION}.jsonl", "work\n")
    placed = carry_transcript(CLAUDE_SESSIONS, transcript, first, second)
    assert placed == tmp_path / f"two/.claude/projects/-work/{SESSION}.jsonl"
    assert placed.read_text() == "work\n"
    assert stat.S_IMODE(placed.stat().st_mode) == 0o600
    assert carry_transcript(CLAUDE_SESSIONS, transcript, first, first) == transcript
    assert carry_transcript(CLAUDE_SESSIONS, transcript, first, {}) is None
    outside = write(tmp_path / "elsewhere.jsonl")
    assert carry_transcript(CLAUDE_SESSIONS, outside, first, second) is None
