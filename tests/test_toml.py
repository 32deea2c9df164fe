"""Reading TOML strictly."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator import ConfigFileNotFoundError, ConfigSyntaxError
from orchestrator._toml import MAX_CONFIG_BYTES, read_toml


def test_reads_valid_toml(tmp_path: Path) -> None:
    """A valid file parses to its tables."""
    path = tmp_path / "x.toml"
    path.write_text("[a]\nb = 1\n")
    assert read_toml(path) == {"a": {"b": 1}}


def test_missing_file(tmp_path: Path) -> None:
    """A missing file raises the not-found error naming it."""
    with pytest.raises(ConfigFileNotFoundError, match=r"x.toml not found"):
        read_toml(tmp_path / "x.toml")


def test_syntax_error_has_line(tmp_path: Path) -> None:
    """The parser's line and column reach the error."""
    path = tmp_path / "x.toml"
    path.write_text("a = 1\n\nb = = 2\n")
    with pytest.raises(ConfigSyntaxError) as caught:
        read_toml(path)
    assert caught.value.line == 3
    assert "column" in str(caught.value)


def test_binary_content_is_a_syntax_error(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 are refused with the line they start on."""
    path = tmp_path / "x.toml"
    path.write_bytes(b"a = 1\nb = '\xff\xfe'\n")
    with pytest.raises(ConfigSyntaxError, match="not valid UTF-8") as caught:
        read_toml(path)
    assert caught.value.line == 2


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    """A file beyond the size limit is refused before parsing."""
    path = tmp_path / "x.toml"
    path.write_bytes(b"#" * (MAX_CONFIG_BYTES + 1))
    with pytest.raises(ConfigSyntaxError, match="larger than"):
        read_toml(path)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    """A directory where the file should be is a clear error."""
    (tmp_path / "x.toml").mkdir()
    with pytest.raises(ConfigSyntaxError, match="cannot read"):
        read_toml(tmp_path / "x.toml")


def test_deep_nesting_is_an_error_not_a_crash(tmp_path: Path) -> None:
    """Pathologically nested arrays end in a config error, never a RecursionError."""
    path = tmp_path / "x.toml"
    path.write_text("a = " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(ConfigSyntaxError):
        read_toml(path)
