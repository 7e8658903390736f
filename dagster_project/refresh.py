"""`tsdg refresh`: a thin launcher of the refresh job, run in this process.

It works out which quarters and families have new or changed landed files (or takes a
backfill's quarters), launches the `quarterly_refresh` job once over that range — the same
job the UI, the schedule and the landing sensor launch — and reports what the run did. The
job itself does write-audit-publish (dagster_project/write_audit_publish.py): it builds on
a copy, validates, publishes only on an explicit pass, and only then replaces the working
warehouse; a failed or killed run leaves the working warehouse and `latest` as they were.
Every run is recorded in the Dagster instance that `make dev` shows.
"""

import json
import os
import time
from collections import Counter
from pathlib import Path

import duckdb

from dagster_project.build_inputs import build_inputs
from dagster_project.config import PROJECT_ROOT, Settings
from dagster_project.ingest.changes import changed_quarters
from dagster_project.ingest.files import landed_files
from dagster_project.lib.duckdb_tables import table_names
from dagster_project.lib.quarters import QUARTERS
from dagster_project.lib.redact import safe_text
from dagster_project.lib.rules import texts
from dagster_project.lib.source_contract import family_names
from dagster_project.warehouse_lock import BUSY, RefreshBusy, refresh_lock
from dagster_project.write_audit_publish import finish, held_for_steps

# Dagster's console logger at INFO: the assets' own progress lines and failures, without
# the per-event debug stream (all events are still in the run's event log).
QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def quarters_with_files(s: Settings) -> list[str]:
    found = set()
    for family in family_names():
        for landed in landed_files(s.sources_dir, family)[0]:
            found.update(landed.partitions)
    return [k for k in QUARTERS if k in found]


def instance(s: Settings):
    """The persistent instance of DAGSTER_HOME if set, else <warehouse>/dagster_home — the
    one `make dev` opens — so runs of `tsdg refresh` show in the UI."""
    from dagster_project.event_log_storage import instance_of

    home = Path(os.environ.get("DAGSTER_HOME") or s.warehouse_dir / "dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text((PROJECT_ROOT / "deploy" / "dagster.yaml").read_text())
    return instance_of(home)


def _root_cause(error) -> str:
    """The innermost error's message: our own (e.g. which file, row and column), not
    Dagster's 'error occurred while executing op' wrapper."""
    while error.cause is not None:
        error = error.cause
    return safe_text(error.message.strip(), 2000)


def _execute(s: Settings, progress, tags: dict, selection: list, workers: int):
    """The refresh job in this process (workers 1), or on the multiprocess executor with
    the ingest steps side by side, this process holding the writer lock for the run."""
    import dagster as dg

    from dagster_project.definitions import refresh_job_for
    from dagster_project.defs.resources import WarehouseResource

    if workers == 1:
        job = refresh_job_for(WarehouseResource(sources_dir=str(s.sources_dir),
                                                warehouse_dir=str(s.warehouse_dir)))
        return job.execute_in_process(instance=instance(s), tags=tags, raise_on_error=False,
                                      asset_selection=selection, run_config=QUIET)
    job = dg.build_reconstructable_job(
        "dagster_project.definitions", "parallel_refresh_job",
        reconstructable_kwargs={"sources_dir": str(s.sources_dir),
                                "warehouse_dir": str(s.warehouse_dir), "workers": workers})
    with held_for_steps(s, progress):
        result = dg.execute_job(job, instance(s), run_config=QUIET, tags=tags,
                                asset_selection=selection, raise_on_error=False)
        retired = finish(s, result.run_id)
    if retired is not None:
        progress(f"the build of this run was not published; kept in {retired}")
    return result


def _start_servers(workers: int) -> None:
    """dbt and GX of a run are forked from servers of this process, also in the step
    processes of `--workers` (lib/server_sockets.py). dbt's imports dbt and parses the
    project now, on the other core, while this process loads the definitions and the run
    ingests (an incremental run reaches dbt seconds after it starts, and waited there for
    the server's parse when it started later). GX's starts when the run waits for dbt
    (validate.ensure, in the dbt step): started now, its import took CPU from the ingest;
    with `--workers` it starts now, as the steps use it, and so does the forkserver the steps
    are forked from: it imports the definitions while this process does, not after. All are
    subprocesses (exec'd): they do not inherit the writer lock's file."""
    from dagster_project import dbt_server
    from dagster_project.quality.validate import warm

    dbt_server.ensure()  # an ancestor's: a refresh forked by `tsdg serve` uses the server's
    if workers > 1:
        warm()
        import multiprocessing
        from multiprocessing import forkserver

        # The preload Dagster's multiprocess executor sets for definitions.parallel_refresh_job
        # (its module, after its own): the same, so the executor finds this server running
        # and uses it.
        multiprocessing.get_context("forkserver").set_forkserver_preload(
            ["dagster._core.executor.multiprocess", "dagster_project.definitions"])
        forkserver.ensure_running()


def _launch(s: Settings, progress, quarters: list[str], families: list[str],
            engine: str = "duckdb", workers: int = 1):
    """One run of the refresh job: the ingest of `families` over `quarters` (if any),
    then the registry, dbt, the GX checks and the release."""
    import dagster as dg

    from dagster_project.defs.operations.jobs import DOWNSTREAM_KEYS, range_tags
    from dagster_project.defs.transform.assets import ENGINE_TAG

    selection = [dg.AssetKey(["raw", f]) for f in families] + DOWNSTREAM_KEYS
    tags = {"tsdg/trigger": "tsdg refresh", **(range_tags(quarters) if quarters else {}),
            **({ENGINE_TAG: engine} if engine != "duckdb" else {})}
    started = time.monotonic()
    result = _execute(s, progress, tags, selection, workers)
    materialized, unchanged = Counter(), []
    for event in result.all_events:
        if event.event_type_value == "ASSET_MATERIALIZATION":
            metadata = event.event_specific_data.materialization.metadata
            rebuilt = metadata.get("rebuilt")
            if rebuilt is not None and rebuilt.value is False:  # model_reuse.py
                unchanged.append(event.asset_key.to_user_string())
                continue
            materialized[event.asset_key.to_user_string()] += 1
            kept = metadata.get("kept_failing_files")
            if kept and kept.value != "none":
                progress(f"  KEPT (loaded before; fail the contract as it now is; "
                         f"`tsdg revalidate --apply` to refuse them):\n{kept.value}")
        elif event.event_type_value == "STEP_FAILURE":
            progress(f"  FAILED {event.step_key}: {_root_cause(event.event_specific_data.error)}")
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            check = event.event_specific_data
            if not check.passed:
                progress(f"  check {check.check_name} failed ({check.severity.value})")
    for key, n in materialized.items():
        progress(f"  materialized {key}" + (f" ({n} partitions)" if n > 1 else ""))
    if unchanged:
        progress(f"  kept as the last release's build left them (what they are made from "
                 f"is unchanged; not built or validated again): {', '.join(unchanged)}")
    progress(f"run {result.run_id}: {'ok' if result.success else 'FAILED'} in "
             f"{time.monotonic() - started:.1f} s")
    return result


def _report_quarantined(database: Path, quarantine_dir: Path, run_id: str, progress) -> None:
    """One line per file refused by this run, naming its first problem and its report."""
    if not database.exists():
        return
    with duckdb.connect(str(database), read_only=True) as con:
        if "raw.landed_files" not in table_names(con):
            return
        rows = con.execute("""select file_name, state_reason, quarantine_report from raw.landed_files
                              where state = 'quarantined' and run_id = ? order by family, file_name""",
                           [run_id]).fetchall()
    for name, reason, report in rows:
        said = texts(reason or "")
        progress(f"QUARANTINED {name}: {safe_text(reason)}")
        progress(f"    退件：{said['zh']} {said['fix_zh']}")
        progress(f"    report: {report}")
    if rows:
        progress(f"{len(rows)} file(s) quarantined under {quarantine_dir}; "
                 "the other files loaded")


def _report_attention(release: Path, progress) -> None:
    """Warnings a data engineer should act on, from the release just published."""
    attention = json.loads((release / "manifest.json").read_text(encoding="utf-8"))["attention"]
    labels = {"overdue_submissions": "OVERDUE submissions",
              "withheld_figures": "WITHHELD figures (incomplete data)",
              "quarantined_files": "QUARANTINED files awaiting a corrected resubmission"}
    for key, label in labels.items():
        item = attention[key]
        if item["count"]:
            progress(f"{label}: {item['count']}")
            for line in item["first"][:5]:
                progress(f"    {line}")
    if attention["overdue_submissions"]["count"] or attention["quarantined_files"]["count"]:
        progress("    senders' status letters (zh-Hant, a page per sender): "
                 "tsdg senders --quarter <YYYYQn>")


def _report_failure(failed_dir: Path, progress) -> None:
    from dagster_project.quality.validate import failure_lines

    results_file = failed_dir / "validation.json"
    if results_file.exists():
        results = json.loads(results_file.read_text(encoding="utf-8"))
        if not results.get("passed"):
            progress(f"validation failed: {results['errors']} blocking error(s), "
                     f"{results['warnings']} warning(s):")
            for line in failure_lines(results):
                progress("  " + line)
            progress(f"report: {results_file.with_suffix('.html')}")
    progress(f"publication blocked; the failed build is kept in {failed_dir}; "
             "the previous release is unchanged")


def quarter_range(text: str) -> list[str]:
    """`2024Q1..2024Q3` (or one quarter) → the partition keys in that range, inclusive."""
    start, _, end = text.partition("..")
    keys = QUARTERS
    for key in (start, end or start):
        if key not in keys:
            raise ValueError(f"{key!r} is not a quarter between {keys[0]} and {keys[-1]}")
    first, last = keys.index(start), keys.index(end or start)
    if first > last:
        raise ValueError(f"{text!r}: the range ends before it starts")
    return keys[first:last + 1]


def _quarters(quarters: list[str]) -> str:
    return f"{len(quarters)} quarter" + ("s" if len(quarters) > 1 else "")


def _standing_release(s: Settings) -> Path | None:
    """The latest release, if it was built from what a rebuild now would use (the working
    warehouse included: its file is the one the release's run left)."""
    latest = s.releases_dir / "latest"
    try:
        manifest = json.loads((latest / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    same = manifest.get("build_inputs") == build_inputs(s.working_database)
    return latest.resolve() if same else None


def _prepare(s: Settings, progress, quarters: list[str] | None, engine: str,
             workers: int) -> tuple[list[str], list[str]] | None:
    """What the run will ingest, or None if the latest release stands. Called with the
    writer lock held, so that a second refresh started meanwhile is answered "busy" at once
    instead of starting servers and loading the definitions for a run that would be
    refused. The lock is released before the run, which takes it itself (its build holds
    it while it lives)."""
    if quarters:
        families = family_names()
        progress(f"backfill: re-ingesting exactly {quarters[0]}..{quarters[-1]} "
                 f"({_quarters(quarters)}), changed or not")
    else:
        quarters, families = changed_quarters(s)
    if quarters:
        progress(f"ingesting {quarters[0]}..{quarters[-1]} ({_quarters(quarters)}; "
                 f"{', '.join(families)}) from {s.sources_dir}")
    else:
        progress("no landed file changed since the last refresh")
        standing = _standing_release(s) if engine == "duckdb" else None
        if standing is not None:
            progress(f"nothing to do: release {standing.name} was built from these files and "
                     "the same registry, models, checks and code, today; it stands (`--quarters` "
                     "re-ingests and rebuilds anyway)")
            progress(f"release: {standing}")
            return None
    progress(f"then building marts (dbt build{' on Spark' if engine == 'spark' else ''}), "
             "validating (Great Expectations) and publishing")
    _start_servers(workers)
    # Loading the definitions is most of a refresh's start (the servers import meanwhile):
    # done here, under the lock, a racing refresh meets the lock rather than a gap.
    import dagster_project.definitions  # noqa: F401
    return quarters, families


def refresh(s: Settings, progress=print, quarters: list[str] | None = None,
            engine: str = "duckdb", workers: int = 1) -> int:
    """Write-audit-publish by the refresh job. `quarters` (a backfill) re-ingests exactly
    those quarters of every family, changed or not; otherwise the families and quarters
    with new or changed files are ingested. `engine` "spark" builds the models on Spark
    (over the lake) instead of DuckDB; validation and publication are the same. `workers`
    above 1 runs the job's steps as processes, up to that many at once (the families'
    ingest side by side). 0 published, 1 blocked, 2 no sources, 3 busy."""
    if not quarters_with_files(s):
        progress(f"no source files under {s.sources_dir}")
        return 2
    try:
        with refresh_lock(s):
            prepared = _prepare(s, progress, quarters, engine, workers)
    except RefreshBusy as exc:
        progress(str(exc))
        return 3
    if prepared is None:
        return 0
    quarters, families = prepared
    try:
        result = _launch(s, progress, quarters, families, engine, workers)
    except RefreshBusy as exc:  # another refresh took the lock first
        progress(str(exc))
        return 3
    failures = [_root_cause(e.event_specific_data.error) for e in result.all_events
                if e.event_type_value == "STEP_FAILURE"]
    if any(BUSY in f for f in failures):  # another refresh took the lock first
        return 3
    failed_dir = s.warehouse_dir / "failed" / result.run_id
    database = s.working_database if result.success else failed_dir / s.working_database.name
    _report_quarantined(database, s.quarantine_dir, result.run_id, progress)
    if result.success:
        release = (s.releases_dir / "latest").resolve()
        _report_attention(release, progress)
        progress(f"release: {release}")
        return 0
    _report_failure(failed_dir, progress)
    return 1
