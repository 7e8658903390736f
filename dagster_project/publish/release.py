"""Write a release (DOMAIN.md §7) from the working warehouse and make it `latest`.

The release is assembled in a hidden folder, fsynced, renamed into place, and only then
does `latest` (a symlink, replaced atomically) point at it: a reader sees the old release
or the new one, never a half-written one, and never the file a refresh is writing.
"""

import contextlib
import csv
import importlib
import json
import os
import shutil
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from dagster_project.build_inputs import build_inputs
from dagster_project.dbt_manifest import DOCS_SITE
from dagster_project.lib.duckdb_tables import sql_string
from dagster_project.lib.redact import redact_ids
from dagster_project.publish.access import RELEASE_DB, latest_release
from dagster_project.publish.disclosure import protect

MARTS = ("indicator_values", "indicator_progress", "county_programme_quarterly",
         "submission_status", "submission_files", "county_submission_vintages")
REGISTRY = ("indicators", "indicator_measures", "window_rules", "targets", "counties", "branches")
WORKBOOK = "release.xlsx"

# The writers of the release's files import pandas, pysdmx and xlsxwriter, about half a
# second: imported when a release is written, not by every process that loads the
# definitions; a run imports them on a thread while it waits for dbt (prefetch_writers).
WRITERS = ("dagster_project.publish.tidy", "dagster_project.publish.workbook",
           "dagster_project.publish.report", "dagster_project.publish.sdmx")

INDICATORS_CSV = """
    select
        indicator_code, measure, group_code as "group",
        coalesce(strftime(window_start, '%Y-%m-%d'), '') as window_start,
        strftime(as_of, '%Y-%m-%d') as as_of,
        indicator_value as value,
        display_value, display_precision, numerator, denominator, opening_balance, unit,
        formula, window_kind, is_headline, is_year_to_date, months_with_data,
        is_complete, coalesce(incomplete_reason, '') as incomplete_reason,
        name_zh, name_en, alias_of
    from marts.indicator_values
    order by indicator_code, measure, group_code, as_of, window_start nulls first
"""

PROGRESS_CSV = """
    select
        indicator_code, measure, group_code as "group", name_zh, name_en,
        baseline_actual as actual_2021, target as target_2024, operator,
        target_year_actual as actual_2024,
        case when is_achieved then 'achieved' when not is_achieved then 'not achieved'
             else 'withheld: incomplete data' end as achieved,
        coalesce(strftime(target_year_window_start, '%Y-%m-%d'), '') as window_start_2024,
        coalesce(target_year_incomplete_reason, '') as incomplete_reason_2024
    from marts.indicator_progress
    order by indicator_code, measure, group_code
"""


def _fsync_tree(folder: Path) -> None:
    for path in folder.iterdir():
        if path.is_dir():
            _fsync_tree(path)
            continue
        with open(path, "rb") as f:
            os.fsync(f.fileno())
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _import_writers() -> None:
    for name in WRITERS:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the release's own import reports it
            return


def prefetch_writers() -> None:
    """Import the release's writers on a thread of their own, for a process that is about
    to wait (for dbt): the import then costs the run nothing."""
    if not all(name in sys.modules for name in WRITERS):
        threading.Thread(target=_import_writers, name="release-writers", daemon=True).start()


def _write_csv(con, query: str, path: Path) -> int:
    from dagster_project.publish.tidy import plain_numbers

    frame = plain_numbers(con.sql(query).df())
    frame.to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\n")
    return len(frame)


def _source_files(con) -> list[dict]:
    """The current vintage of every submission: the files this release's figures use."""
    # The file's name, not its server path: a release is cited and shared outside.
    rows = con.sql("""select family, file_name, file_sha256, vintage, submitter, period,
                             strftime(received_at, '%Y-%m-%dT%H:%M:%S')
                      from source_warehouse.raw.landed_files where state = 'loaded'
                      order by family, file_name""").fetchall()
    return [{"family": f, "file": p, "sha256": h, "vintage": v, "submitter": s, "period": per,
             "received_at": r} for f, p, h, v, s, per, r in rows]


def _attention(con) -> dict:
    """What a reader of the release should know: withheld figures, overdue and refused
    submissions (counts, with the first few named)."""
    def named(query):
        rows = [r[0] for r in con.sql(query).fetchall()]
        return {"count": len(rows), "first": rows[:10]}
    return {
        "withheld_figures": named("""select indicator_code || ' ' || measure || ' ' || group_code
            || coalesce(' from ' || strftime(window_start, '%Y-%m-%d'), '')
            || ' as of ' || strftime(as_of, '%Y-%m-%d') || ': ' || incomplete_reason
            from marts.indicator_values where not is_complete order by as_of desc, 1"""),
        "overdue_submissions": named("""select family || ' ' || period || ' ' || submitter_name
            || ' (' || status || ', deadline ' || strftime(deadline, '%Y-%m-%d') || ')'
            from marts.submission_status where status <> 'submitted' and is_late
            order by period_start desc, 1"""),
        # Refused files whose sender has not yet sent a good version of the submission.
        "quarantined_files": named("""select q.file_name || ': ' || q.state_reason
            from marts.submission_files as q where q.state = 'quarantined' and not exists (
                select 1 from marts.submission_files as l
                where l.family = q.family and l.state in ('loaded', 'superseded')
                and l.submitter is not distinct from q.submitter
                and l.period is not distinct from q.period and l.loaded_at > q.loaded_at)
            order by q.loaded_at desc, 1"""),
    }


REVISIONS = """
    select
        n.indicator_code, n.measure, n.group_code as "group",
        coalesce(strftime(n.window_start, '%Y-%m-%d'), '') as window_start,
        strftime(n.as_of, '%Y-%m-%d') as as_of,
        o.indicator_value as old_value, n.indicator_value as new_value,
        i.source_family
    from marts.indicator_values as n
    inner join previous.marts.indicator_values as o
        on o.indicator_code = n.indicator_code and o.measure = n.measure
        and o.group_code = n.group_code and o.as_of = n.as_of
        and o.window_start is not distinct from n.window_start
    inner join registry.indicators as i on i.indicator_code = n.indicator_code
    where o.indicator_value is distinct from n.indicator_value
    order by all
"""


class NotValidated(RuntimeError):
    """Publication refused: no explicit validation pass for this build."""


def _name(source: dict) -> str:
    """A source file's name (releases before 2026-11-30 recorded its path)."""
    return source.get("file") or Path(source["path"]).name


def _changed_sources(previous: Path, sources: list[dict]) -> dict[str, list[str]]:
    """Per family, the source files added, removed or changed since `previous`."""
    old = json.loads((previous / "manifest.json").read_text(encoding="utf-8"))["source_files"]
    # By name: a landing area moved or mounted elsewhere is not a change of its files.
    before = {(f["family"], _name(f)): f["sha256"] for f in old}
    after = {(f["family"], _name(f)): f["sha256"] for f in sources}
    changed: dict[str, list[str]] = {}
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            changed.setdefault(key[0], []).append(key[1])
    return changed


def _write_revisions(con, previous: Path | None, sources: list[dict], path: Path) -> dict:
    """revisions.csv: every figure whose value changed since the previous release, with the
    source files of its family that changed (none listed = an unexplained revision)."""
    from dagster_project.publish.tidy import plain_numbers

    if previous is None:
        path.write_text("\ufeffindicator_code,measure,group,window_start,as_of,old_value,"
                        "new_value,changed_source_files\n", encoding="utf-8")
        return {"previous_release": None, "revised": 0, "unexplained": 0}
    con.execute(f"attach {sql_string(previous / RELEASE_DB)} as previous (read_only)")
    frame = con.sql(REVISIONS).df()
    con.execute("detach previous")
    changed = _changed_sources(previous, sources)
    frame["changed_source_files"] = ["; ".join(changed.get(f, [])) for f in frame.pop("source_family")]
    plain_numbers(frame).to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\n")
    return {"previous_release": previous.name, "revised": len(frame),
            "unexplained": int((frame["changed_source_files"] == "").sum())}


def _read_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def require_pass(validation_file: Path, run_id: str | None = None) -> dict:
    """The validation results of this build, or NotValidated."""
    if not validation_file.exists():
        raise NotValidated(f"refusing to publish: no validation results at {validation_file}")
    results = json.loads(validation_file.read_text(encoding="utf-8"))
    if run_id is not None and results.get("run_id") != run_id:
        raise NotValidated(f"refusing to publish: {validation_file} is from run "
                           f"{results.get('run_id')}, not from this run ({run_id})")
    if results.get("passed") is not True:
        raise NotValidated(f"refusing to publish: validation failed with {results.get('errors')} "
                           f"blocking error(s); see {validation_file.with_suffix('.html')}")
    return results


@dataclass
class Rendered:
    """A release's files written into its hidden folder; not yet a release (commit)."""
    database: Path
    releases_dir: Path
    building: Path
    release_id: str
    created: datetime
    manifest: dict


def render(database: Path, releases_dir: Path, detached: threading.Event | None = None) -> Rendered:
    """Every file of a release from the marts of `database`, into a hidden folder. Nothing
    is published. `detached` is set once the release's tables are copied out of `database`
    (the build may be written again from then on)."""
    from dagster_project.publish.report import write_report
    from dagster_project.publish.sdmx import write_sdmx_files
    from dagster_project.publish.tidy import write_metadata, write_tidy
    from dagster_project.publish.workbook import write_workbook

    created = datetime.now(UTC)
    release_id = created.strftime("%Y%m%dT%H%M%S%fZ")
    releases_dir.mkdir(parents=True, exist_ok=True)
    building = releases_dir / f".building-{release_id}"
    building.mkdir()
    counts = {}
    try:
        with duckdb.connect(str(building / RELEASE_DB)) as con:
            try:
                con.execute(f"attach {sql_string(database)} as source_warehouse (read_only)")
                for schema, tables in (("marts", MARTS), ("registry", REGISTRY)):
                    con.execute(f"create schema {schema}")
                    for table in tables:
                        con.execute(f"create table {schema}.{table} as "
                                    f"select * from source_warehouse.{schema}.{table}")
                        counts[f"{schema}.{table}"] = con.sql(
                            f"select count(*) from {schema}.{table}").fetchall()[0][0]
                sources = _source_files(con)
                con.execute("detach source_warehouse")
            finally:
                if detached is not None:
                    detached.set()
            # Before any file is written: every output is made from the protected tables.
            disclosure = protect(con)
            # The CSVs are written from the release's own tables, so they agree with them.
            counts["indicators.csv"] = _write_csv(con, INDICATORS_CSV,
                                                  building / "indicators.csv")
            counts["indicator_progress.csv"] = _write_csv(
                con, PROGRESS_CSV, building / "indicator_progress.csv")
            revisions = _write_revisions(con, latest_release(releases_dir), sources,
                                         building / "revisions.csv")
            attention = _attention(con)
            revised = _read_csv(building / "revisions.csv")
            # The report first: Chromium prints it to PDF while the other outputs are written.
            finish_report = write_report(con, building, release_id, revised)
            try:
                counts |= write_tidy(con, building, MARTS)
                counts |= write_metadata(con, building, MARTS, release_id)
                counts |= write_workbook(con, building / WORKBOOK, release_id, revisions)
                counts |= write_sdmx_files(con, building, {
                    (r["indicator_code"], r["measure"], r["group"], r["window_start"],
                     r["as_of"]) for r in revised})
            except BaseException:
                finish_report(abandon=True)
                raise
            counts |= finish_report()
        if DOCS_SITE.exists():  # dbt's documentation of the models this release was built with
            (building / "docs").mkdir()
            shutil.copy2(DOCS_SITE, building / "docs" / "index.html")
    except BaseException:
        _remove(building)
        raise
    # validation and build_inputs are the commit's (None: places kept in the manifest's order)
    manifest = {"release_id": release_id, "created_at": created.isoformat(),
                "warehouse": str(database), "source_files": sources, "validation": None,
                "revisions": revisions, "attention": attention, "disclosure": disclosure,
                "row_counts": counts, "build_inputs": None}
    return Rendered(database, releases_dir, building, release_id, created, manifest)


def discard(rendered: Rendered) -> None:
    _remove(rendered.building)


def _remove(building: Path) -> None:
    """A release being made, removed; so is releases/ if it holds nothing else (render made
    it for a first release that is not to be)."""
    shutil.rmtree(building, ignore_errors=True)
    with contextlib.suppress(OSError):
        building.parent.rmdir()


def commit(rendered: Rendered, validation: dict, attachments: tuple[Path, ...] = ()) -> Path:
    """Make a rendered release a release and point `latest` at it: only with an explicit
    validation pass (otherwise its folder is removed)."""
    if validation.get("passed") is not True:
        discard(rendered)
        raise NotValidated("refusing to publish: validation did not pass")
    building = rendered.building
    for attachment in attachments:
        shutil.copy2(attachment, building / attachment.name)
    manifest = {**rendered.manifest, "validation": validation,
                "build_inputs": build_inputs(rendered.database)}
    (building / "manifest.json").write_text(
        redact_ids(json.dumps(manifest, indent=1, ensure_ascii=False)), encoding="utf-8")
    _fsync_tree(building)
    final = rendered.releases_dir / rendered.release_id
    os.replace(building, final)
    pointer = rendered.releases_dir / f".latest-{rendered.release_id}"
    pointer.symlink_to(rendered.release_id)
    os.replace(pointer, rendered.releases_dir / "latest")
    return final


def publish(database: Path, releases_dir: Path, validation: dict,
            attachments: tuple[Path, ...] = ()) -> Path:
    """Copy the marts of `database` into a new release and point `latest` at it."""
    if validation.get("passed") is not True:
        raise NotValidated("refusing to publish: validation did not pass")
    return commit(render(database, releases_dir), validation, attachments)
