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

import os
import shutil
from contextlib import ExitStack
from pathlib import Path

import duckdb

from dagster_project import lake
from dagster_project.config import Settings, settings
from dagster_project.warehouse_lock import refresh_lock

NOT_PUBLISHED = ("not published: the run failed, a blocking check failed, or its selection "
                 "did not include the release step; the working warehouse and the last release "
                 "are unchanged")


def build_alias(working: Settings) -> Path:
    """A fixed path to the running build (a link to builds/<run id>/, there while the run
    lives). dbt's profile names this path, not the run's: the profile is part of dbt's
    parse state, so a per-run path made every run parse the project from scratch."""
    return working.warehouse_dir / "current-build"


def settle(s: Settings, progress) -> None:
    """Called with the lock held. A WAL left by a crashed writer is checkpointed into the
    working file before it is copied (a copy without its WAL would lose data); a release
    half-assembled by a killed run never became `latest` and is removed; builds of runs
    that died are moved to failed/ and never published."""
    wal = Path(f"{s.working_database}.wal")
    if wal.exists():
        progress(f"checkpointing stale {wal.name} left by an interrupted writer")
        with duckdb.connect(str(s.working_database)) as con:
            con.execute("checkpoint")
    for leftover in sorted(s.releases_dir.glob(".building-*")) + sorted(
            s.releases_dir.glob(".latest-*")) if s.releases_dir.exists() else []:
        if leftover.is_symlink() or leftover.is_file():
            leftover.unlink()
        else:
            shutil.rmtree(leftover)
        progress(f"removed {leftover.name} left by an interrupted publication")
    build_alias(s).unlink(missing_ok=True)  # left by a killed run; the lock is ours now
    builds = s.warehouse_dir / "builds"
    for orphan in sorted(builds.glob("*")) if builds.exists() else []:
        retire(s, orphan, "orphaned build of an interrupted run; not published")
        progress(f"moved orphaned build {orphan.name} to failed/")


def retire(s: Settings, build_dir: Path, reason: str) -> Path:
    target = s.warehouse_dir / "failed" / build_dir.name
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():  # the same run id retired twice cannot happen; keep both if it does
        target = target.with_name(f"{target.name}-again")
    os.replace(build_dir, target)
    (target / "REASON.txt").write_text(reason + "\n", encoding="utf-8")
    return target


class Build:
    """One run's copy of the working warehouse, and the writer lock held while it lives."""

    def __init__(self, working: Settings, run_id: str, progress):
        self.working = working
        self.run_id = run_id
        self.promoted = False
        self._stack = ExitStack()
        self._stack.enter_context(refresh_lock(working))  # RefreshBusy if another run writes
        try:
            settle(working, progress)
            self.dir = working.warehouse_dir / "builds" / run_id
            self.dir.mkdir(parents=True)
            self.settings = settings(working.sources_dir, working.warehouse_dir,
                                     self.dir / working.working_database.name)
            if working.working_database.exists():
                shutil.copy2(working.working_database, self.settings.database)
            # Relative, so a copied warehouse's link still points inside the copy.
            link = build_alias(working).with_name(".current-build-new")
            link.unlink(missing_ok=True)
            link.symlink_to(Path("builds") / run_id, target_is_directory=True)
            os.replace(link, build_alias(working))
            progress(f"run {run_id[:8]} builds on a copy of the working warehouse "
                     f"(builds/{run_id}/); it replaces the working warehouse only after "
                     "validation and publication")
        except BaseException:
            self._stack.close()
            raise

    def promote(self) -> None:
        """After publication: the audited build becomes the working warehouse, and the
        quarters it ingested the lake's."""
        lake.publish(self.settings.database, self.dir, self.working.warehouse_dir)
        os.replace(self.settings.database, self.working.working_database)
        shutil.rmtree(self.dir)
        self.promoted = True

    def close(self) -> Path | None:
        """At the end of the run: an unpromoted build is retired; the lock is released."""
        try:
            build_alias(self.working).unlink(missing_ok=True)
            if not self.promoted and self.dir.exists():
                return retire(self.working, self.dir, f"run {self.run_id}: {NOT_PUBLISHED}")
            return None
        finally:
            self._stack.close()
