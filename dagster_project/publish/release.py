"""Write a release (DOMAIN.md §7) from the working warehouse and make it `latest`.

The release is assembled in a hidden folder, fsynced, renamed into place, and only then
does `latest` (a symlink, replaced atomically) point at it: a reader sees the old release
or the new one, never a half-written one, and never the file a refresh is writing.
"""

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import duckdb

MARTS = ("indicator_values", "indicator_progress", "county_programme_quarterly")
REGISTRY = ("indicators", "indicator_measures", "window_rules", "targets", "counties", "branches")
RELEASE_DB = "release.duckdb"

INDICATORS_CSV = """
    select
        indicator_code, measure, group_code as "group",
        coalesce(strftime(window_start, '%Y-%m-%d'), '') as window_start,
        strftime(as_of, '%Y-%m-%d') as as_of,
        indicator_value as value,
        display_value, display_precision, numerator, denominator, opening_balance, unit,
        formula, window_kind, is_headline, is_year_to_date, months_with_data,
        name_zh, name_en, alias_of
    from marts.indicator_values
    order by indicator_code, measure, group_code, as_of, window_start nulls first
"""

PROGRESS_CSV = """
    select
        indicator_code, measure, group_code as "group", name_zh, name_en,
        baseline_actual as actual_2021, target as target_2024, operator,
        target_year_actual as actual_2024,
        case when is_achieved then 'achieved' else 'not achieved' end as achieved,
        coalesce(strftime(target_year_window_start, '%Y-%m-%d'), '') as window_start_2024
    from marts.indicator_progress
    order by indicator_code, measure, group_code
"""


def _fsync_tree(folder: Path) -> None:
    for path in folder.iterdir():
        with open(path, "rb") as f:
            os.fsync(f.fileno())
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_csv(con, query: str, path: Path) -> int:
    frame = con.sql(query).df()
    frame.to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\n")
    return len(frame)


def _source_files(con) -> list[dict]:
    families = ("training_rosters", "employment_services", "labour_insurance",
                "county_submissions", "programme_tallies")
    union = " union all ".join(
        f"select '{f}' as family, source_file, file_sha256, min(partition_key) as vintage "
        f"from source_warehouse.raw.{f} group by all" for f in families)
    rows = con.sql(f"select * from ({union}) order by family, source_file").fetchall()
    return [{"family": f, "path": p, "sha256": h, "vintage": v} for f, p, h, v in rows]


def latest_release(releases_dir: Path) -> Path | None:
    latest = releases_dir / "latest"
    return latest.resolve() if latest.exists() else None


def publish(database: Path, releases_dir: Path, validation: dict) -> Path:
    """Copy the marts of `database` into a new release and point `latest` at it."""
    created = datetime.now(UTC)
    release_id = created.strftime("%Y%m%dT%H%M%S%fZ")
    releases_dir.mkdir(parents=True, exist_ok=True)
    building = releases_dir / f".building-{release_id}"
    building.mkdir()
    counts = {}
    with duckdb.connect(str(building / RELEASE_DB)) as con:
        con.execute(f"attach '{database}' as source_warehouse (read_only)")
        for schema, tables in (("marts", MARTS), ("registry", REGISTRY)):
            con.execute(f"create schema {schema}")
            for table in tables:
                con.execute(f"create table {schema}.{table} as "
                            f"select * from source_warehouse.{schema}.{table}")
                counts[f"{schema}.{table}"] = con.sql(
                    f"select count(*) from {schema}.{table}").fetchall()[0][0]
        sources = _source_files(con)
        con.execute("detach source_warehouse")
        # The CSVs are written from the release's own tables, so they agree with them.
        counts["indicators.csv"] = _write_csv(con, INDICATORS_CSV, building / "indicators.csv")
        counts["indicator_progress.csv"] = _write_csv(
            con, PROGRESS_CSV, building / "indicator_progress.csv")
    manifest = {
        "release_id": release_id,
        "created_at": created.isoformat(),
        "warehouse": str(database),
        "source_files": sources,
        "validation": validation,
        "row_counts": counts,
    }
    (building / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False),
                                            encoding="utf-8")
    _fsync_tree(building)
    final = releases_dir / release_id
    os.replace(building, final)
    pointer = releases_dir / f".latest-{release_id}"
    pointer.symlink_to(release_id)
    os.replace(pointer, releases_dir / "latest")
    return final
