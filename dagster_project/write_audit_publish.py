"""Write-audit-publish for every Dagster run, whatever started it (`tsdg refresh`, the UI,
the quarterly schedule, the landing sensor).

A run's first step that touches the warehouse opens the run's *build*: it takes the writer
lock (held until the run ends), settles what an interrupted writer left behind, and copies
the working warehouse to builds/<run id>/. Every step of the run then reads and writes that
copy. The release step, after an explicit validation pass, publishes from the copy and then
promotes it over the working warehouse. A run that ends any other way — a failed step, a
blocking check, a kill, a selection without the release step — never touches the working
warehouse or `latest`: its build moves to failed/<run id>/ with the reason.
"""

import fcntl
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import duckdb

from dagster_project import lake
from dagster_project.config import DUCKDB_CONFIG, INGEST_DUCKDB_CONFIG, Settings, settings
from dagster_project.warehouse_lock import RefreshBusy, refresh_lock

NOT_PUBLISHED = ("not published: the run failed, a blocking check failed, or its selection "
                 "did not include the release step; the working warehouse and the last release "
                 "are unchanged")


def settle(s: Settings, progress) -> None:
    """Called with the lock held. A WAL left by a crashed writer is checkpointed into the
    working file before it is copied (a copy without its WAL would lose data); a release
    half-assembled by a killed run never became `latest` and is removed; builds of runs
    that died are moved to failed/ and never published."""
    if checkpointed(s.working_database):
        progress(f"checkpointed the stale {s.working_database.name}.wal left by an "
                 "interrupted writer")
    for leftover in sorted(s.releases_dir.glob(".building-*")) + sorted(
            s.releases_dir.glob(".latest-*")) if s.releases_dir.exists() else []:
        if leftover.is_symlink() or leftover.is_file():
            leftover.unlink()
        else:
            shutil.rmtree(leftover)
        progress(f"removed {leftover.name} left by an interrupted publication")
    builds = s.warehouse_dir / "builds"
    for orphan in sorted(builds.glob("*")) if builds.exists() else []:
        if not orphan.is_dir():  # a step's `.opening` lock, a `.replaced-` warehouse: a kill's
            orphan.unlink()
            continue
        retire(s, orphan, "orphaned build of an interrupted run; not published")
        progress(f"moved orphaned build {orphan.name} to failed/")


def checkpointed(database: Path) -> bool:
    """A writer that ended without closing its file (killed, or a process that exits
    without finalising) leaves committed data in the WAL beside it: readers see it, a copy
    or move of the file alone loses it. Checkpoint it into the file; True if there was one."""
    if not Path(f"{database}.wal").exists():
        return False
    with duckdb.connect(str(database), config=DUCKDB_CONFIG) as con:
        con.execute("checkpoint")
    return True


def retire(s: Settings, build_dir: Path, reason: str) -> Path:
    target = s.warehouse_dir / "failed" / build_dir.name
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():  # the same run id retired twice cannot happen; keep both if it does
        target = target.with_name(f"{target.name}-again")
    os.replace(build_dir, target)
    (target / "REASON.txt").write_text(reason + "\n", encoding="utf-8")
    return target


class Build:
    """One run's copy of the working warehouse, and the writer lock held while it lives.

    `owner` False: the run's steps live in several processes (`tsdg refresh --workers`),
    so no step can hold the lock for the run. The launcher holds it and settles before the
    run (`held_for_steps`); the first step to need the build copies the warehouse, the
    others join that copy; the launcher retires it if no step promoted it."""

    def __init__(self, working: Settings, run_id: str, progress, owner: bool = True):
        self.working = working
        self.run_id = run_id
        self.owner = owner
        self._stack = ExitStack()
        self._freeing: threading.Thread | None = None
        if owner:
            self._stack.enter_context(refresh_lock(working))  # RefreshBusy if another writes
        else:
            _held_by_launcher(working)
        try:
            if owner:
                settle(working, progress)
            self.dir = working.warehouse_dir / "builds" / run_id
            self.settings = settings(working.sources_dir, working.warehouse_dir,
                                     self.dir / working.working_database.name)
            with _opening(self.dir):
                if not self.dir.exists():
                    self._open(progress)
        except BaseException:
            self._stack.close()
            raise

    def _open(self, progress) -> None:
        # Copied aside and renamed into place: a joining step never finds half a copy.
        partial = self.dir.with_name(f".{self.run_id}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        if self.working.working_database.exists():
            shutil.copy2(self.working.working_database, partial / self.settings.database.name)
        os.replace(partial, self.dir)
        progress(f"run {self.run_id[:8]} builds on a copy of the working warehouse "
                 f"(builds/{self.run_id}/); it replaces the working warehouse only after "
                 "validation and publication")

    def promote(self) -> None:
        """After publication: the audited build becomes the working warehouse, and the
        quarters it ingested the lake's."""
        lake.publish(self.settings.database, self.dir, self.working.warehouse_dir)
        checkpointed(self.settings.database)  # what was validated and published, WAL included
        self._freeing = _replace_freeing_later(self.settings.database,
                                               self.working.working_database,
                                               self.dir.parent / f".replaced-{self.run_id}")
        shutil.rmtree(self.dir)

    def close(self) -> Path | None:
        """At the end of the run: an unpromoted build is retired; the lock is released.
        A joined build is left to the launcher, which outlives every step."""
        if self._freeing is not None:
            self._freeing.join()
        if not self.owner:
            return None
        try:
            return finish(self.working, self.run_id)
        finally:
            self._stack.close()


def _replace_freeing_later(new: Path, old: Path, doomed: Path) -> threading.Thread | None:
    """os.replace(new, old), the old file's blocks freed on a thread. Freeing a warehouse's
    blocks is most of replacing it (0.27 s for the scale-1 sample's 570 MB, on the run's
    path): the old file keeps a second name, `doomed`, so the replace only renames (readers
    see the old file or the new), and the returned thread unlinks `doomed` while the run
    ends (Build.close waits for it). A kill meanwhile leaves `doomed` in builds/, where the
    next settle removes it."""
    try:
        os.link(old, doomed)
    except OSError:  # a first run (nothing to replace), or a file system without links
        os.replace(new, old)
        return None
    os.replace(new, old)
    freeing = threading.Thread(target=doomed.unlink, kwargs={"missing_ok": True},
                               name="free-replaced-warehouse")
    freeing.start()
    return freeing


@contextmanager
def _opening(build_dir: Path):
    """One process at a time decides whether the run's build exists (and copies it)."""
    build_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(build_dir.parent / f".{build_dir.name}.opening", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
    (build_dir.parent / f".{build_dir.name}.opening").unlink(missing_ok=True)


def finish(working: Settings, run_id: str) -> Path | None:
    """The end of a run, with the lock still held: the build is gone if it was promoted;
    otherwise it is retired to failed/. Returns where it went."""
    build_dir = working.warehouse_dir / "builds" / run_id
    if build_dir.exists():
        return retire(working, build_dir, f"run {run_id}: {NOT_PUBLISHED}")
    return None


@contextmanager
def writer(database: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """The build's database, opened for writing by one process of the run at a time (the
    others wait: a merge takes seconds)."""
    with open(database.with_name(database.name + ".writer.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with duckdb.connect(str(database), config=INGEST_DUCKDB_CONFIG) as con:
            yield con


def _held_by_launcher(working: Settings) -> None:
    try:
        with refresh_lock(working):
            pass
    except RefreshBusy:
        return  # held, as it must be, by the launcher
    raise RuntimeError("a step of a run whose steps share one build found the writer lock "
                       "free: such runs are started by `tsdg refresh --workers`, which "
                       "holds it; nothing was written")


@contextmanager
def held_for_steps(working: Settings, progress):
    """For a run whose steps are processes of their own: the writer lock, held by the
    launcher around the whole run, and the warehouse settled before it starts."""
    with refresh_lock(working):
        settle(working, progress)
        yield
