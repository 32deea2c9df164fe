"""The spool: claims, finishing, requeueing, and taking over after a crash at any step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

from orchestrator import JobResult
from orchestrator._spool import LOCK_NAME, Spool, _staged_result_name

ROOT = Path(__file__).parent.parent


def result(job_id: str, status: str = "succeeded") -> JobResult:
    return JobResult.model_validate({"job_id": job_id, "status": status, "output": "ok"})


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    spool = Spool(tmp_path / "spool")
    spool.create()
    return spool


def drop(spool: Spool, name: str, text: str = 'prompt = "x"\n') -> None:
    (spool.incoming / name).write_text(text)


def test_pending_is_oldest_first_and_skips_dot_files(spool: Spool) -> None:
    for index, name in enumerate(["b.toml", "a.toml", ".partial.toml"]):
        drop(spool, name)
        os.utime(spool.incoming / name, ns=(index * 10**9, index * 10**9))
    assert spool.pending() == ["b.toml", "a.toml"]


def test_claim_finish_and_layout(spool: Spool) -> None:
    drop(spool, "a.toml")
    with spool.registered():
        claimed = spool.claim("a.toml")
        assert claimed is not None
        assert spool.claim("a.toml") is None  # already taken
        final = spool.finish(claimed, result("a"))
    assert final == spool.done / "a.result.json"
    assert json.loads(final.read_text())["job_id"] == "a"
    assert sorted(p.name for p in spool.done.iterdir()) == ["a.result.json", "a.toml"]
    assert list(spool.processing.iterdir()) == []  # the claim directory is gone


def test_failed_results_go_to_failed_and_names_never_clobber(spool: Spool) -> None:
    with spool.registered():
        for _ in range(2):
            drop(spool, "a.toml")
            claimed = spool.claim("a.toml")
            assert claimed is not None
            spool.finish(claimed, result("a", "failed"))
    assert sorted(p.name for p in spool.failed.iterdir()) == [
        "a.2.result.json",
        "a.2.toml",
        "a.result.json",
        "a.toml",
    ]


def test_leaving_requeues_what_is_still_claimed(spool: Spool) -> None:
    drop(spool, "a.toml")
    with spool.registered():
        assert spool.claim("a.toml") is not None
    assert spool.pending() == ["a.toml"]


def crash_with(spool_root: Path, step: str) -> None:
    """In a child process: claim a.toml, get as far as ``step``, then die."""
    spool = Spool(spool_root)
    with spool.registered():
        claimed = spool.claim("a.toml")
        assert claimed is not None
        staged = spool.claim_dir / _staged_result_name("a.toml")
        if step in {"staged", "moved"}:
            staged.write_text(result("a").model_dump_json())
        if step == "moved":
            os.rename(claimed.path, spool.done / "a.toml")
        if step == "torn":
            staged.write_text('{"job_id": "a", "sta')
        os._exit(0)  # no cleanup: like SIGKILL


@pytest.mark.parametrize(
    ("step", "pending", "done"),
    [
        ("claimed", ["a.toml"], []),  # never finished: runs again
        ("torn", ["a.toml"], []),  # result not synced: runs again
        ("staged", [], ["a.result.json", "a.toml"]),  # result safe: filed, not rerun
        ("moved", [], ["a.result.json", "a.toml"]),
    ],
)
def test_a_new_worker_takes_over_a_dead_ones_claims(
    spool: Spool, step: str, pending: list[str], done: list[str]
) -> None:
    drop(spool, "a.toml")
    code = (
        "from pathlib import Path; from tests.test_spool import crash_with; "
        f"crash_with(Path({str(spool.root)!r}), {step!r})"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    assert len(list(spool.processing.iterdir())) == 1  # the dead worker's directory
    with spool.registered() as recovery:
        assert spool.pending() == pending
        assert sorted(p.name for p in spool.done.iterdir()) == done
        assert list(recovery.requeued) == pending
        assert list(recovery.finished) == (["a.toml"] if done else [])
    assert list(spool.processing.iterdir()) == []


def test_a_living_workers_claims_are_left_alone(spool: Spool) -> None:
    drop(spool, "a.toml")
    other = Spool(spool.root)
    with other.registered():
        assert other.claim("a.toml") is not None
        with spool.registered() as recovery:
            assert recovery.requeued == ()
            assert (other.claim_dir / "a.toml").exists()
            assert (other.claim_dir / LOCK_NAME).exists()


def dead_workers(spool: Spool, count: int) -> list[str]:
    """``count`` claim directories of workers that died holding a job each (their
    locks are free), and what they held."""
    held = []
    for number in range(count):
        dead = spool.processing / f"dead-{number}"
        dead.mkdir()
        (dead / LOCK_NAME).touch()
        (dead / f"job{number}.toml").write_text('prompt = "x"\n')
        held.append(f"job{number}.toml")
    return held


def test_workers_recovering_at_once_take_each_dead_claim_exactly_once(tmp_path: Path) -> None:
    """Several workers starting together while dead workers' directories exist: none
    crashes, every dead claim goes back to incoming/ once, nothing is left behind."""
    for trial in range(30):
        root = tmp_path / f"t{trial}"
        spools = [Spool(root) for _ in range(4)]
        spools[0].create()
        held = dead_workers(spools[0], 3)
        recovered, errors = recover_together(spools)
        assert not errors, "".join(traceback.format_exception(errors[0]))
        assert sorted(recovered) == held
        assert sorted(spools[0].pending()) == held
        assert list(spools[0].processing.iterdir()) == []


def recover_together(spools: list[Spool]) -> tuple[list[str], list[BaseException]]:
    """Every spool registers (and recovers) at the same instant, each in a thread."""
    import threading

    start = threading.Barrier(len(spools))
    recovered: list[str] = []
    errors: list[BaseException] = []

    def recover(spool: Spool) -> None:
        try:
            start.wait()
            with spool.registered() as recovery:
                recovered.extend(recovery.requeued)
                recovered.extend(spool.recover().requeued)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=recover, args=(spool,)) for spool in spools]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return recovered, errors


def test_a_registering_workers_directory_is_never_taken_over(spool: Spool) -> None:
    """A ``.starting-`` directory is a worker between mkdir and lock: left alone until stale."""
    starting = spool.processing / ".starting-someone"
    starting.mkdir()
    (starting / "job.toml").write_text('prompt = "x"\n')
    assert spool.recover().requeued == ()
    old = starting.stat().st_mtime - 3600
    os.utime(starting, (old, old))
    assert spool.recover().requeued == ("job.toml",)
    assert list(spool.processing.iterdir()) == []


def test_results_are_private_files_in_private_folders(tmp_path: Path) -> None:
    """An answer can echo a key: result files are 0600, done/ failed/ processing/ 0700,
    also when an older version made the folders 0755."""
    root = tmp_path / "spool"
    (root / "done").mkdir(parents=True, mode=0o755)
    spool = Spool(root)
    spool.create()
    for folder in (spool.done, spool.failed, spool.processing):
        assert oct(folder.stat().st_mode & 0o777) == "0o700", folder
    drop(spool, "a.toml")
    with spool.registered():
        claimed = spool.claim("a.toml")
        assert claimed is not None
        final = spool.finish(claimed, result("a"))
    assert oct(final.stat().st_mode & 0o777) == "0o600"
