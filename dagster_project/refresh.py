"""`tsdg refresh`: write-audit-publish around the Dagster definitions, run in-process.

1. Take the refresh lock (one refresh at a time), settle a stale WAL of the working
   warehouse, move builds orphaned by a crashed refresh to failed/.
2. Copy the working warehouse into builds/<id>/ and ingest, as one single-run backfill,
   every quarter whose landed files differ from what the warehouse holds.
3. Build the registry and the dbt models, validate with the GX suites (blocking checks),
   and publish a release only on an explicit pass.
4. On success the build replaces the working warehouse; on failure it moves to failed/<id>/
   with its validation report, and the previous release and warehouse stay as they were.
"""

import json
import os
import shutil
import time
import warnings
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb

from dagster_project.config import Settings, settings
from dagster_project.defs.partitions import quarterly
from dagster_project.defs.resources import WarehouseResource
from dagster_project.ingest.files import digest_of, irregular_entries, landed_files, strays
from dagster_project.lib.redact import safe_text
from dagster_project.lib.rules import texts
from dagster_project.lib.source_contract import family_names
from dagster_project.warehouse_lock import RefreshBusy, refresh_lock

# Dagster's console logger at INFO: the assets' own progress lines and failures, without
# the per-event debug stream (all events are still in the run's event log).
QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def quarters_with_files(s: Settings) -> list[str]:
    found = set()
    for family in family_names():
        for landed in landed_files(s.sources_dir, family)[0]:
            found.update(landed.partitions)
    return [k for k in quarterly.get_partition_keys() if k in found]


def changed_quarters(s: Settings) -> list[str]:
    """Quarters with a landed file the warehouse has not taken in yet (new name or new
    content). Names, not paths: a landing area copied or mounted elsewhere is not a change;
    a file that was loaded and later removed from the landing area stays loaded."""
    received: set[tuple[str, str, str]] = set()
    if s.database.exists():
        with duckdb.connect(str(s.database), read_only=True) as con:
            tables = {r[0] for r in con.sql("select table_schema || '.' || table_name "
                                            "from information_schema.tables").fetchall()}
            if "raw.landed_files" in tables:
                received = set(con.sql("""select family, file_name, file_sha256 from raw.landed_files
                                          where state in ('loaded', 'superseded')""").fetchall())
    changed: set[str] = set()
    has_misnamed = False
    for family in family_names():
        good, misnamed = landed_files(s.sources_dir, family)
        for f in good:
            if (family, f.name, digest_of(f.path)[0]) not in received:
                changed.update(f.partitions)
        if misnamed or irregular_entries(s.sources_dir, family) or strays(s.sources_dir, family):
            has_misnamed = True
    if has_misnamed and not changed:  # any ingest run refuses them; make sure one comes
        changed.add(quarterly.get_last_partition_key())
    return [k for k in quarterly.get_partition_keys() if k in changed]


def instance() -> dg.DagsterInstance:
    """The persistent instance when DAGSTER_HOME is set (runs then show in `dagster dev`)."""
    return dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()


def _root_cause(error) -> str:
    """The innermost error's message: our own (e.g. which file, row and column), not
    Dagster's 'error occurred while executing op' wrapper."""
    while error.cause is not None:
        error = error.cause
    return safe_text(error.message.strip(), 2000)


def _run(assets, resources, progress, tags=None, what=""):
    started = time.monotonic()
    result = dg.materialize(assets, resources=resources, instance=instance(), tags=tags,
                            raise_on_error=False, run_config=QUIET)
    materialized = Counter()
    for event in result.all_events:
        if event.event_type_value == "ASSET_MATERIALIZATION":
            materialized[event.asset_key.to_user_string()] += 1
        elif event.event_type_value == "STEP_FAILURE":
            progress(f"  FAILED {event.step_key}: {_root_cause(event.event_specific_data.error)}")
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            check = event.event_specific_data
            if not check.passed:
                progress(f"  check {check.check_name} failed ({check.severity.value})")
    for key, n in materialized.items():
        progress(f"  materialized {key}" + (f" ({n} partitions)" if n > 1 else ""))
    progress(f"{what}: {'ok' if result.success else 'FAILED'} in {time.monotonic() - started:.1f} s")
    return result


def _settle(s: Settings, progress) -> None:
    """A WAL left by a crashed writer is checkpointed into the working file before it is
    copied (a copy without its WAL would lose data); orphaned builds are never published."""
    wal = Path(f"{s.working_database}.wal")
    if wal.exists():
        progress(f"checkpointing stale {wal.name} left by an interrupted writer")
        with duckdb.connect(str(s.working_database)) as con:
            con.execute("checkpoint")
    # A release half-assembled by a killed refresh never became `latest`: remove it.
    for leftover in sorted(s.releases_dir.glob(".building-*")) + sorted(
            s.releases_dir.glob(".latest-*")) if s.releases_dir.exists() else []:
        if leftover.is_symlink() or leftover.is_file():
            leftover.unlink()
        else:
            shutil.rmtree(leftover)
        progress(f"removed {leftover.name} left by an interrupted publication")
    builds = s.warehouse_dir / "builds"
    for orphan in sorted(builds.glob("*")) if builds.exists() else []:
        target = s.warehouse_dir / "failed" / orphan.name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(orphan, target)
        (target / "REASON.txt").write_text("orphaned build of an interrupted refresh; not published\n")
        progress(f"moved orphaned build {orphan.name} to failed/")


def _report_quarantined(build: Settings, run_id: str, progress) -> None:
    """One line per file refused by this run, naming its first problem and its report."""
    if not build.database.exists():
        return
    with duckdb.connect(str(build.database), read_only=True) as con:
        rows = con.execute("""select file_name, state_reason, quarantine_report from raw.landed_files
                              where state = 'quarantined' and run_id = ? order by family, file_name""",
                           [run_id]).fetchall()
    for name, reason, report in rows:
        said = texts(reason or "")
        progress(f"QUARANTINED {name}: {safe_text(reason)}")
        progress(f"    退件：{said['zh']} {said['fix_zh']}")
        progress(f"    report: {report}")
    if rows:
        progress(f"{len(rows)} file(s) quarantined under {build.quarantine_dir}; "
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


def _report_failure(build: Settings, failed_dir: Path, progress) -> None:
    from dagster_project.quality.validate import failure_lines

    results_file = failed_dir / build.validation_file.name
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
    keys = quarterly.get_partition_keys()
    for key in (start, end or start):
        if key not in keys:
            raise ValueError(f"{key!r} is not a quarter between {keys[0]} and {keys[-1]}")
    first, last = keys.index(start), keys.index(end or start)
    if first > last:
        raise ValueError(f"{text!r}: the range ends before it starts")
    return keys[first:last + 1]


def refresh(s: Settings, progress=print, quarters: list[str] | None = None) -> int:
    """Write-audit-publish. `quarters` (a backfill) re-ingests exactly those quarters,
    changed or not; otherwise the quarters with new or changed files are ingested."""
    try:
        with refresh_lock(s):
            return _refresh(s, progress, quarters)
    except RefreshBusy as exc:
        progress(str(exc))
        return 3


def _refresh(s: Settings, progress, quarters: list[str] | None = None) -> int:
    with warnings.catch_warnings():
        # backfill_policy is marked beta; we rely on it knowingly (README, Operations).
        warnings.simplefilter("ignore", dg.BetaWarning)
        from dagster_project.definitions import BUILD_ASSETS, resources
        from dagster_project.defs.ingest.assets import ingest_assets

    if not quarters_with_files(s):
        progress(f"no source files under {s.sources_dir}")
        return 2
    _settle(s, progress)
    build_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    build_dir = s.warehouse_dir / "builds" / build_id
    build_dir.mkdir(parents=True)
    build = settings(s.sources_dir, s.warehouse_dir, build_dir / s.working_database.name)
    if s.working_database.exists():
        shutil.copy2(s.working_database, build.database)
    res = resources(WarehouseResource(sources_dir=str(s.sources_dir),
                                      warehouse_dir=str(s.warehouse_dir),
                                      build_database=str(build.database)))
    ok = True
    changed = quarters or changed_quarters(build)
    if quarters:
        progress(f"backfill: re-ingesting exactly {quarters[0]}..{quarters[-1]} "
                 f"({len(quarters)} quarters), changed or not")
    if changed:
        progress(f"ingesting {changed[0]}..{changed[-1]} ({len(changed)} changed quarters) "
                 f"from {s.sources_dir}")
        tags = {"dagster/asset_partition_range_start": changed[0],
                "dagster/asset_partition_range_end": changed[-1]}
        result = _run(ingest_assets, res, progress, tags, "ingest")
        ok = result.success
        _report_quarantined(build, result.run_id, progress)
    else:
        progress("no landed file changed since the last refresh")
    if ok:
        progress("building marts (dbt build), validating (Great Expectations) and publishing")
        ok = _run(BUILD_ASSETS, res, progress, what="build, validate and publish").success
    if ok:
        os.replace(build.database, s.working_database)
        shutil.rmtree(build_dir)
        release = (s.releases_dir / "latest").resolve()
        _report_attention(release, progress)
        progress(f"release: {release}")
        return 0
    failed_dir = s.warehouse_dir / "failed" / build_id
    failed_dir.parent.mkdir(parents=True, exist_ok=True)
    os.replace(build_dir, failed_dir)
    _report_failure(build, failed_dir, progress)
    return 1
