"""A release rendered while its build is validated, published only after the pass.

The GX step spends its time waiting for GX's child, which validates on one core; the
release's files (CSV, Parquet, the workbook, SDMX, the report and its PDF) take as long
again on the other when rendered after it. So, in a run whose steps share this process
(the in-process executor), the GX step starts rendering the release on a thread before it
waits (`start`), and the release step commits what was rendered (`take`), or renders it
then if there is none (a step of `--workers` is a process of its own).

Write-audit-publish is unchanged: rendering writes only a hidden folder under releases/
(`release.render`); `release.commit` makes it a release, and only with an explicit pass of
this run's validation. A failed validation, a failed step or a killed run leaves no release:
the folder is removed when the run ends (`drop`, from the warehouse resource's teardown) or,
after a kill, swept by the next run (write_audit_publish.settle).
"""

import threading
from pathlib import Path

from dagster_project.publish.release import Rendered, discard, render

# Executors that run every step in this process (the second, execute_in_process's).
IN_PROCESS = {"in_process", "execute_in_process_executor"}


def renders_here(context) -> bool:
    """Whether the release of this step's run is rendered in this process, by the GX step:
    its steps share this process."""
    return context.job_def.executor_def.name in IN_PROCESS


class Candidate:
    def __init__(self, database: Path, releases_dir: Path):
        self.detached = threading.Event()  # the build may be written again
        self._rendered: Rendered | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._render, args=(database, releases_dir),
                                        name="release-candidate", daemon=True)
        self._thread.start()

    def _render(self, database: Path, releases_dir: Path) -> None:
        try:
            self._rendered = render(database, releases_dir, self.detached)
        except BaseException as exc:  # noqa: BLE001 - raised again where it is taken
            self._error = exc
        finally:
            self.detached.set()

    def rendered(self) -> Rendered:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._rendered

    def discard(self) -> None:
        self._thread.join()
        if self._rendered is not None:
            discard(self._rendered)


_PENDING: dict[tuple[str, str], Candidate] = {}


def start(database: Path, releases_dir: Path, run_id: str) -> Candidate:
    drop(database, run_id)  # one of an earlier attempt of the step (a retry), if any
    candidate = Candidate(database, releases_dir)
    _PENDING[(str(database), run_id)] = candidate
    return candidate


def take(database: Path, run_id: str) -> Candidate | None:
    return _PENDING.pop((str(database), run_id), None)


def drop(database: Path, run_id: str) -> None:
    """The candidate of a run that will not publish it, removed."""
    candidate = take(database, run_id)
    if candidate is not None:
        candidate.discard()
