"""The embedded job queue: a spool directory that needs no server.

Layout::

    DIR/incoming/              drop job files here (write elsewhere, or under a
                               name starting with '.', then rename into place)
    DIR/processing/<worker>/   files a living worker has claimed; <worker>/.lock
                               is flock-ed by that worker while it runs
    DIR/done/, DIR/failed/     each finished job file beside <job-id>.result.json
                               (a rejected file: <file name>.result.json)

Claiming is a rename from ``incoming/`` into the worker's own directory: the
kernel lets exactly one rename of a name succeed, so two workers never run the
same file. Finishing writes the result into the worker's directory first
(synced), then moves the job file, then the result, so a crash at any point
leaves enough behind to finish the move later rather than run the job twice.
Live workers take over the directories of dead workers (their lock is free),
at start and every few seconds while they run: unfinished jobs go back to
``incoming/``, finished ones are moved on. Several workers may do this at
once: a directory is taken over only under its lock and after renaming it to
the recovering worker's own dot name (``.recovering-...``), a rename only one
of them can win. A worker registers the same way in reverse: its directory is
made and locked under a dot name (``.starting-...``) and renamed into place,
so nobody ever sees a worker's directory without its lock held.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ._atomic import write_atomic
from ._job import JobResult
from ._jobfile import is_prompt_file

LOCK_NAME = ".lock"
RESULT_SUFFIX = ".result.json"
STARTING_PREFIX = ".starting-"
RECOVERING_PREFIX = ".recovering-"
#: Seconds after which a ``.starting-`` directory is a worker that died registering.
STALE_START = 60.0


@dataclass(frozen=True)
class Claimed:
    """A job file this worker owns now."""

    name: str
    path: Path


@dataclass(frozen=True)
class Recovery:
    """What taking over dead workers' directories did."""

    requeued: tuple[str, ...] = ()
    finished: tuple[str, ...] = ()


class Spool:
    """One spool directory, seen from one worker."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.incoming = root / "incoming"
        self.processing = root / "processing"
        self.done = root / "done"
        self.failed = root / "failed"
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.claim_dir = self.processing / self.worker_id

    def create(self) -> None:
        """Make the four folders; those holding answers are private (0700)."""
        self.incoming.mkdir(parents=True, exist_ok=True)
        for directory in (self.processing, self.done, self.failed):
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            directory.chmod(0o700)  # also when an older version made it 0755

    @contextmanager
    def registered(self) -> Iterator[Recovery]:
        """Hold this worker's claim directory (and its lock) for the block.

        Dead workers' directories are taken over on the way in. On the way
        out, however the block ends, anything still claimed goes back to
        ``incoming/`` and the directory is removed.
        """
        self.create()
        starting = self.processing / f"{STARTING_PREFIX}{self.worker_id}"
        starting.mkdir(mode=0o700)
        fd = os.open(starting / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # nobody else knows the name yet
            os.rename(starting, self.claim_dir)
            try:
                yield self.recover()
            finally:
                _settle(self, self.claim_dir)
                _remove_claim_dir(self.claim_dir)
        finally:
            os.close(fd)

    def recover(self) -> Recovery:
        """Take over the claim directories whose workers are gone (safe to run in
        several workers at once: each directory is taken over by one of them)."""
        requeued: list[str] = []
        finished: list[str] = []
        for entry in sorted(os.scandir(self.processing), key=lambda entry: entry.name):
            if entry.path == str(self.claim_dir) or not entry.is_dir(follow_symlinks=False):
                continue
            if entry.name.startswith(STARTING_PREFIX) and not _stale(entry.path):
                continue  # a worker registering right now
            recovery = self._take_over(Path(entry.path))
            requeued += recovery.requeued
            finished += recovery.finished
        return Recovery(tuple(requeued), tuple(finished))

    def _take_over(self, directory: Path) -> Recovery:
        """Settle ``directory`` if its worker is gone and no other worker got there first."""
        try:
            lock_fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError:
            return Recovery()  # renamed away by another worker taking it over
        try:
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return Recovery()  # its worker is alive (or another is taking it over)
            mine = self.processing / f"{RECOVERING_PREFIX}{self.worker_id}-{uuid.uuid4().hex[:6]}"
            try:
                os.rename(directory, mine)
            except FileNotFoundError:
                return Recovery()  # another worker took it over first
            recovery = _settle(self, mine)
            _remove_claim_dir(mine)
            return recovery
        finally:
            os.close(lock_fd)

    def pending(self) -> list[str]:
        """Names waiting in ``incoming/``, oldest first (by modification time, then name);
        prompt files (``*.prompt``, ``*.md``, ``*.txt``) stay for the jobs that name them."""
        entries = []
        with os.scandir(self.incoming) as scan:
            for entry in scan:
                if entry.name.startswith(".") or is_prompt_file(entry.name):
                    continue
                try:
                    entries.append((entry.stat().st_mtime_ns, entry.name))
                except FileNotFoundError:
                    continue  # claimed by another worker while we looked
        entries.sort()
        return [name for _, name in entries]

    def claim(self, name: str) -> Claimed | None:
        """Move ``incoming/name`` into this worker's directory; None if it is gone."""
        target = self.claim_dir / name
        try:
            os.rename(self.incoming / name, target)
        except FileNotFoundError:
            return None  # another worker was faster, or it was withdrawn
        return Claimed(name, target)

    def finish(self, claimed: Claimed, result: JobResult) -> Path:
        """File ``claimed`` under ``done/`` or ``failed/``, beside ``<job_id>.result.json``.

        Returns:
            The result file's final path.
        """
        staged = self.claim_dir / _staged_result_name(claimed.name)
        # 0600: an answer can echo a key.
        write_atomic(staged, result.model_dump_json(indent=1).encode(), mode=0o600)
        return _complete(self, claimed.name, staged, result.job_id, result.status)

    def requeue(self, claimed: Claimed) -> None:
        """Give ``claimed`` back to ``incoming/`` (cancelled before it finished)."""
        move_no_clobber(claimed.path, self.incoming, claimed.name)


def _staged_result_name(job_file_name: str) -> str:
    # A dot name: never taken for a job file, never claimed from incoming/.
    return f".{job_file_name}{RESULT_SUFFIX}"


def _complete(spool: Spool, name: str, staged: Path, job_id: str, status: str) -> Path:
    """Move the job file (if still there) and its staged result to their place."""
    destination = spool.done if status == "succeeded" else spool.failed
    job_file = staged.parent / name
    if job_file.exists():
        move_no_clobber(job_file, destination, name)
    return move_no_clobber(staged, destination, job_id, RESULT_SUFFIX)


def _settle(spool: Spool, directory: Path) -> Recovery:
    """Finish or requeue everything in a claim directory nobody else holds."""
    requeued, finished = [], []
    for entry in sorted(os.listdir(directory)):
        if entry == LOCK_NAME or not entry.startswith(".") or not entry.endswith(RESULT_SUFFIX):
            continue
        staged = directory / entry
        try:
            result = JobResult.model_validate_json(staged.read_bytes())
        except (OSError, ValueError):
            staged.unlink(missing_ok=True)  # torn before it was synced: run the job again
            continue
        name = entry[1 : -len(RESULT_SUFFIX)]
        _complete(spool, name, staged, result.job_id, result.status)
        finished.append(name)
    for entry in sorted(os.listdir(directory)):
        if entry.startswith("."):
            if entry != LOCK_NAME:
                (directory / entry).unlink(missing_ok=True)  # an unfinished temp file
            continue
        move_no_clobber(directory / entry, spool.incoming, entry)
        requeued.append(entry)
    return Recovery(tuple(requeued), tuple(finished))


def _remove_claim_dir(directory: Path) -> None:
    (directory / LOCK_NAME).unlink(missing_ok=True)
    # Another worker may already have made a new lock here and taken the (settled,
    # empty) directory over in turn: it removes it then.
    try:
        directory.rmdir()
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.ENOTEMPTY):
            raise


def _stale(path: str) -> bool:
    """A directory left unchanged for ``STALE_START`` seconds."""
    try:
        return time.time() - os.stat(path).st_mtime > STALE_START
    except FileNotFoundError:
        return False


def move_no_clobber(source: Path, directory: Path, name: str, suffix: str = "") -> Path:
    """Rename ``source`` to ``directory/name+suffix``, or ``name.N+suffix`` if that is taken.

    Check-then-rename: only workers write into ``done/`` and ``failed/``, and
    a user dropping a file into ``incoming/`` under the very name being
    requeued in the same instant is the one (accepted) race.
    """
    if not suffix:
        stem, dot, extension = name.rpartition(".")
        name, suffix = (stem, f".{extension}") if dot and stem else (name, "")
    candidate, number = directory / f"{name}{suffix}", 1
    while candidate.exists():
        number += 1
        candidate = directory / f"{name}.{number}{suffix}"
    os.rename(source, candidate)
    return candidate
