"""Load one family × quarter partition of a raw table: every good file, none of a bad one.

A bad file (FileRejected) is quarantined and the partition is loaded again without it, so
nothing of it is half-loaded and the other files of the partition still load. Earlier
vintages of a submission keep their rows (marked superseded in raw.landed_files).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from dagster_project.ingest import aggregated, lifecycle, person_level
from dagster_project.ingest.files import LandedFile, files_for_partition, sha256_of
from dagster_project.ingest.problems import FileRejected, Problem
from dagster_project.ingest.quarantine import quarantine
from dagster_project.lib.pseudonym import load_key, sql_pads

LINEAGE = "partition_key varchar, source_file varchar, file_sha256 varchar, source_row int"
RAW_TABLES = {
    "training_rosters": "raw.training_rosters",
    "employment_services": "raw.employment_services",
    "labour_insurance": "raw.labour_insurance",
    "county_submissions": "raw.county_submissions",
    "programme_tallies": "raw.programme_tallies",
}


@dataclass
class Quarantined:
    file: str
    report: Path
    first_problem: str
    total: int


@dataclass
class PartitionLoad:
    rows: dict[str, int] = field(default_factory=dict)  # file name → rows in this partition
    quarantined: list[Quarantined] = field(default_factory=list)


def ensure_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists raw")
    con.execute(lifecycle.DDL)
    # Rows per file and partition (a yearly tally file feeds four quarters).
    con.execute("""create table if not exists raw.partition_files (family varchar,
                   partition_key varchar, source_file varchar, file_sha256 varchar, row_count bigint)""")
    for table, ddl in {**person_level.RAW_DDL, **aggregated.RAW_DDL}.items():
        con.execute(f"create table if not exists {table} ({LINEAGE}, {ddl})")
    for table, column, kind in aggregated.ADDED_COLUMNS:
        con.execute(f"alter table {table} add column if not exists {column} {kind}")


def _load_file(con, landed: LandedFile, data: bytes, sha: str, partition: str, pads) -> int:
    if landed.family == "training_rosters":
        return person_level.load_file(con, landed, data, sha, person_level.ROSTERS, partition, pads)
    if landed.family == "employment_services":
        return person_level.load_file(con, landed, data, sha, person_level.EMPLOYMENT, partition, pads)
    reader = (aggregated.read_county_submission if landed.family == "county_submissions"
              else aggregated.read_long_file)
    frame = reader(landed, data, sha, partition)
    con.register("frame", frame)
    con.execute(f"insert into {RAW_TABLES[landed.family]} by name select * from frame")
    con.unregister("frame")
    return len(frame)


def refuse(con, family: str, path: Path, rejected: FileRejected, landed: LandedFile | None,
           quarantine_dir: Path, run_id: str) -> Quarantined:
    """Quarantine a file and record it (outside any transaction: the record must stay)."""
    data = path.read_bytes()
    reason = rejected.problems[0].detail(60) if rejected.problems else str(rejected)
    record = lifecycle.quarantine_record(family, path, sha256_of(data), len(data), landed,
                                         reason, run_id)
    report, record = quarantine(path, rejected, quarantine_dir, run_id, record)
    lifecycle.insert_record(con, record)
    return Quarantined(path.name, report, reason, rejected.total)


def refuse_misnamed(con, family: str, paths: list[Path], quarantine_dir: Path,
                    run_id: str) -> list[Quarantined]:
    example = {"training_rosters": "roster_113Q2_T.csv", "employment_services": "pes_113Q2_C.csv",
               "labour_insurance": "bli_11312.csv", "county_submissions": "65000_113Q2.xlsx",
               "programme_tallies": "tally_WDA_113.csv"}[family]
    return [refuse(con, family, path, FileRejected(path.name, [Problem(
                path.name, None, "file name", path.name,
                f"file name does not follow the {family} contract (e.g. {example})")]),
                   None, quarantine_dir, run_id) for path in paths]


def load_partition(con: duckdb.DuckDBPyConnection, sources_dir: Path, family: str,
                   partition: str, key_file: Path, quarantine_dir: Path, run_id: str,
                   log: Callable[[str], None] = print) -> PartitionLoad:
    files = files_for_partition(sources_dir, family, partition)
    table = RAW_TABLES[family]
    pads = sql_pads(load_key(key_file)) if family in ("training_rosters", "employment_services") else None
    result = PartitionLoad()
    while True:
        result.rows = {}
        con.begin()
        try:
            for landed in files:
                data = landed.path.read_bytes()  # read and hashed once per file
                sha = sha256_of(data)
                state = lifecycle.state_of(con, family, landed.name, sha)
                if state is not None:
                    # Loaded before (a backfill or a re-run): replace its rows. A file never
                    # loaded has none, and the delete would scan the whole raw table.
                    con.execute(f"delete from {table} where partition_key = ? and file_sha256 = ?",
                                [partition, sha])
                n = _load_file(con, landed, data, sha, partition, pads)
                vintage = lifecycle.record_loaded(con, landed, sha, len(data), run_id, state)
                con.execute("delete from raw.partition_files where family = ? and "
                            "partition_key = ? and file_sha256 = ?", [family, partition, sha])
                con.execute("insert into raw.partition_files values (?, ?, ?, ?, ?)",
                            [family, partition, str(landed.path), sha, n])
                result.rows[landed.name] = n
                log(f"{family} {partition}: {landed.name} → {n} rows (vintage {vintage})")
            con.commit()
            return result
        except FileRejected as exc:
            con.rollback()
            bad = next(f for f in files if f.name == exc.file)
            result.quarantined.append(refuse(con, family, bad.path, exc, bad, quarantine_dir, run_id))
            files = [f for f in files if f is not bad]
        except BaseException:
            con.rollback()
            raise
