"""Where each CLI keeps a session's transcript, and carrying one into another home.

A provider that sets its own home (``HOME``, ``CLAUDE_CONFIG_DIR``,
``CODEX_HOME``, ``GEMINI_CLI_HOME``, ``QWEN_HOME``...) is a separate account
whose CLI looks for sessions only there. Carrying copies the one transcript
to the same place under the next provider's home, which is where each pinned
CLI looked when resuming (verified against mocks on 2026-11-27: claude
2.1.197, qwen 0.15.10, gemini 0.61.0 and codex 0.169.0 each resumed from a
copied transcript alone).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SessionStore:
    """A CLI's session directory layout.

    Attributes:
        home_variables: ``(variable, directory under it)`` pairs: where the CLI's own
            directory is when that variable is set; the first one set wins.
        home_default: that directory under ``HOME`` when none is set.
        pattern: the transcript's glob under that directory; ``{session}`` is the
            session id, ``{short}`` its first 8 characters.
        needs_id_inside: the file name does not hold the whole id (gemini's
            ``session-<time>-<short>.jsonl``): the file must mention it.
    """

    home_variables: tuple[tuple[str, str], ...]
    home_default: str
    pattern: str
    needs_id_inside: bool = False

    def root(self, environment: Mapping[str, str]) -> Path | None:
        """The CLI's directory for a child with ``environment``; None when unknowable."""
        for variable, inner in self.home_variables:
            value = environment.get(variable)
            if value:
                path = Path(value).expanduser() / inner
                return path if path.is_absolute() else None
        home = environment.get("HOME")
        if not home or not Path(home).is_absolute():
            return None
        return Path(home) / self.home_default

    def find(self, environment: Mapping[str, str], session_id: str) -> Path | None:
        """The session's transcript in that directory, newest first; None if absent."""
        root = self.root(environment)
        if root is None or not _safe_id(session_id):
            return None
        pattern = self.pattern.format(session=session_id, short=session_id[:8])
        found = sorted(root.glob(pattern), key=_modified, reverse=True)
        for path in found:
            if not self.needs_id_inside or _mentions(path, session_id):
                return path
        return None


def carry_transcript(
    store: SessionStore,
    transcript: Path,
    from_environment: Mapping[str, str],
    to_environment: Mapping[str, str],
) -> Path | None:
    """Copy ``transcript`` to the same place under the next provider's directory.

    Returns where the next attempt's CLI will find it (the transcript itself when
    both providers share a home), or None when it cannot be placed there.
    """
    source_root, target_root = store.root(from_environment), store.root(to_environment)
    if source_root is None or target_root is None:
        return None
    try:
        relative = transcript.relative_to(source_root)
    except ValueError:
        return None
    target = target_root / relative
    if target == transcript:
        return transcript
    try:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copyfile(transcript, target)
        os.chmod(target, 0o600)  # a transcript holds the account's work: its owner's only
    except OSError:
        return None
    return target


def _safe_id(session_id: str) -> bool:
    """A session id goes into a glob: letters, digits and dashes only."""
    return bool(session_id) and all(char.isalnum() or char in "-_" for char in session_id)


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _mentions(path: Path, session_id: str) -> bool:
    try:
        with path.open("rb") as file:
            return session_id.encode() in file.read(64 * 1024)
    except OSError:
        return False
