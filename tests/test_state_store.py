"""State file ownership, manual requests, and state kept across configurations."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from orchestrator._rotation import ProviderRotation
from orchestrator._state import restore_rotations, save_rotations
from orchestrator._state_store import ManualRequest, StateStore, apply_request


def test_one_owner_at_a_time(tmp_path: Path) -> None:
    first, second = StateStore(tmp_path / "s.json"), StateStore(tmp_path / "s.json")
    assert first.owner_pid() is None
    assert first.try_own()
    assert not second.try_own()
    assert second.owner_pid() == os.getpid()
    first.release()
    assert second.owner_pid() is None
    with second.ownership() as owned:
        assert owned
    assert not second.owned


def test_a_dead_owner_leaves_the_file_free(tmp_path: Path) -> None:
    """The kernel drops the lock of a process that died, however it died."""
    code = (
        "import os, sys; from pathlib import Path; "
        "from orchestrator._state_store import StateStore; "
        f"assert StateStore(Path({str(tmp_path / 's.json')!r})).try_own(); os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert StateStore(tmp_path / "s.json").try_own()


def test_requests_are_taken_in_order_and_removed(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.json")
    store.request(ManualRequest("rotate", "qwen"))
    store.request(ManualRequest("reset", "gemini"))
    (store.requests_dir / "99999999999999999999-junk.json").write_text("{not json")
    assert store.take_requests() == [
        ManualRequest("rotate", "qwen"),
        ManualRequest("reset", "gemini"),
    ]
    assert list(store.requests_dir.iterdir()) == []
    assert store.take_requests() == []


def test_apply_request() -> None:
    rotations = {"qwen": ProviderRotation.of(["a", "b"])}
    rotations["qwen"].cool_down("a", 10**12)
    assert apply_request(ManualRequest("rotate", "qwen"), rotations)
    assert rotations["qwen"].current_index == 1
    assert apply_request(ManualRequest("reset", "qwen"), rotations)
    assert rotations["qwen"].current_index == 0
    assert rotations["qwen"].cooldown_until == {}
    assert not apply_request(ManualRequest("rotate", "unknown"), rotations)


def test_saving_keeps_other_configurations_backends(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    save_rotations(path, {"qwen": ProviderRotation.of(["a", "b"])}, ("qwen", "a", "m"))
    demo = ProviderRotation.of(["x"])
    save_rotations(path, {"demo": demo})
    saved = json.loads(path.read_text())
    assert set(saved["backends"]) == {"qwen", "demo"}
    rotations = {"qwen": ProviderRotation.of(["a", "b"])}
    restored = restore_rotations(path, rotations)
    assert restored.problems == []
    assert restored.last == (None, None, None)  # the last save ran nothing


def test_last_used_survives(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    save_rotations(path, {"qwen": ProviderRotation.of(["a"])}, ("qwen", "a", "m"))
    assert restore_rotations(path, {"qwen": ProviderRotation.of(["a"])}).last == (
        "qwen",
        "a",
        "m",
    )


def test_headroom_survives_a_restart_and_garbage_is_dropped(tmp_path: Path) -> None:
    """Saved readings come back; a malformed one is skipped, not an error."""
    import json

    from orchestrator import Headroom

    path = tmp_path / "state.json"
    rotation = ProviderRotation.of(["a", "b"])
    rotation.record_headroom("a", Headroom(0.93, 2_000.0, 1_000.0))
    save_rotations(path, {"qwen": rotation})
    state = json.loads(path.read_text())
    state["backends"]["qwen"]["headroom"]["b"] = {"utilization": "lots"}
    path.write_text(json.dumps(state))
    restored = {"qwen": ProviderRotation.of(["a", "b"])}
    assert restore_rotations(path, restored).problems == []
    assert restored["qwen"].headroom == {"a": Headroom(0.93, 2_000.0, 1_000.0)}


def test_a_suspension_survives_a_restart() -> None:
    """The refused settings' fingerprint is saved with the rotation and restored."""
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "state.json"
        rotation = ProviderRotation.of(["a", "b"])
        rotation.suspend("a", "0123456789abcdef")
        save_rotations(path, {"qwen": rotation})
        restored = {"qwen": ProviderRotation.of(["a", "b"])}
        restore_rotations(path, restored)
    assert restored["qwen"].suspended == {"a": "0123456789abcdef"}
