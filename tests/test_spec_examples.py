"""The spec's Python examples run as written, with only the import line changed."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from .conftest import SPEC_EXAMPLE_DIR

SPEC_COPY = Path(__file__).parent / "spec_provider_management.md"
SHARED_SPEC = Path(__file__).parents[2] / "shared" / "spec" / "provider-management.md"
SPEC_IMPORT = "from auto_coder.backend_manager import get_llm_backend_manager"
OUR_IMPORT = "from orchestrator import get_llm_backend_manager"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", SPEC_COPY.read_text(), flags=re.DOTALL)


def test_spec_copy_matches_shared_spec() -> None:
    """The copy the tests run is the shared spec, byte for byte, when the spec is present."""
    if not SHARED_SPEC.exists():
        pytest.skip(f"{SHARED_SPEC} is not beside this checkout")
    assert SPEC_COPY.read_bytes() == SHARED_SPEC.read_bytes()


def test_spec_has_three_python_examples() -> None:
    """The examples this file runs are all there are (a new one must be added here)."""
    blocks = python_blocks()
    assert len(blocks) == 3
    assert all(SPEC_IMPORT in block for block in blocks[:2])


@pytest.fixture
def spec_setup(monkeypatch: pytest.MonkeyPatch, spec_environ: dict[str, str]) -> None:
    monkeypatch.setenv("ORCHESTRATOR_CONFIG_DIR", str(SPEC_EXAMPLE_DIR))
    for name, value in spec_environ.items():
        monkeypatch.setenv(name, value)


def run_blocks(*indices: int) -> tuple[str, dict[str, object]]:
    """Run the chosen spec blocks in one namespace, as a user's script would."""
    client = object()
    namespace: dict[str, object] = {"client": client}
    output = io.StringIO()
    blocks = python_blocks()
    with contextlib.redirect_stdout(output):
        for index in indices:
            code = blocks[index].replace(SPEC_IMPORT, OUR_IMPORT)
            exec(compile(code, f"<spec example {index + 1}>", "exec"), namespace)
    return output.getvalue(), namespace


@pytest.mark.usefixtures("spec_setup")
def test_manual_rotation_example() -> None:
    """`advance_to_next_provider` rotates and `reset_provider_rotation` returns to the first."""
    _, namespace = run_blocks(0)
    assert namespace["rotated"] is True
    manager = namespace["manager"]
    assert manager.provider_manager.get_current_provider_name("qwen") == "qwen-open-router"  # type: ignore[attr-defined]
    assert manager.get_client("qwen") is namespace["client"]  # type: ignore[attr-defined]


@pytest.mark.usefixtures("spec_setup")
def test_status_monitoring_example() -> None:
    """The status example prints the current provider and the last backend/provider/model."""
    output, _ = run_blocks(1)
    assert output.splitlines() == [
        "Current provider: qwen-open-router",
        "Backend: None, Provider: None, Model: None",
    ]


@pytest.mark.usefixtures("spec_setup")
def test_provider_information_example() -> None:
    """The provider-information example runs on the manager from the status example."""
    output, _ = run_blocks(1, 2)
    assert output.splitlines()[2:] == [
        "Providers configured: True",
        "Available providers: ['qwen-open-router', 'qwen-azure', 'qwen-direct']",
        "Total providers: 3",
        "Last used: None",
    ]


@pytest.mark.usefixtures("spec_setup")
def test_examples_share_one_manager() -> None:
    """Rotation done in the first example is seen by the status example's manager."""
    _, namespace = run_blocks(0)
    namespace["manager"].provider_manager.advance_to_next_provider("qwen")  # type: ignore[attr-defined]
    output, _ = run_blocks(1)
    assert output.splitlines()[0] == "Current provider: qwen-azure"
