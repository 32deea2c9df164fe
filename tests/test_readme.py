"""README's fresh-machine commands are the ones CI runs."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).parent.parent
DEMO_COMMAND = (
    "python3 -m venv .venv && .venv/bin/pip install -q -e . && "
    ".venv/bin/orchestrator run --config-dir examples/demo examples/demo/jobs/*"
)
TEST_COMMAND = (
    "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/python -m pytest"
)


def test_readme_test_command_is_what_ci_runs() -> None:
    """The test command shown in README.md is a line of .ci/run, character for character."""
    readme_lines = (ROOT / "README.md").read_text().splitlines()
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert TEST_COMMAND in readme_lines
    assert TEST_COMMAND in ci_lines


def test_readme_demo_command_is_what_the_examples_test_runs() -> None:
    """The first command installs and runs the offline demo that test_examples checks."""
    readme_lines = (ROOT / "README.md").read_text().splitlines()
    assert DEMO_COMMAND in readme_lines
    assert readme_lines.index(DEMO_COMMAND) < readme_lines.index(TEST_COMMAND)
