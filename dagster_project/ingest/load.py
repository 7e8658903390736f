"""Replace one family × quarter partition of a raw table, all files or none."""

from collections.abc import Callable
from pathlib import Path

import duckdb

from dagster_project.ingest import aggregated, person_level
from dagster_project.ingest.files import files_for_partition, sha256_of
from dagster_project.lib.pseudonym import load_key, sql_pads

LINEAGE = "partition_key varchar, source_file varchar, file_sha256 varchar, source_row int"
RAW_TABLES = {
    "training_rosters": "raw.training_rosters",
    "employment_services": "raw.employment_services",
    "labour_insurance": "raw.labour_insurance",
    "county_submissions": "raw.county_submissions",
    "programme_tallies": "raw.programme_tallies",
}


def ensure_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists raw")
    # What each partition was last loaded from, including files that gave it no rows
    # (a yearly tally file and its future quarters): refresh compares it with the landing.
    con.execute("""create table if not exists raw.partition_files (family varchar,
                   partition_key varchar, source_file varchar, file_sha256 varchar, row_count bigint)""")
    for table, ddl in {**person_level.RAW_DDL, **aggregated.RAW_DDL}.items():
        con.execute(f"create table if not exists {table} ({LINEAGE}, {ddl})")


def load_partition(con: duckdb.DuckDBPyConnection, sources_dir: Path, family: str,
                   partition: str, key_file: Path, log: Callable[[str], None] = print) -> dict:
    """Rows per file loaded into `family`'s raw table for `partition`. A bad file raises
    FileRejected and the partition keeps its previous rows (the transaction rolls back)."""
    files = files_for_partition(sources_dir, family, partition)
    table = RAW_TABLES[family]
    pads = sql_pads(load_key(key_file)) if family in ("training_rosters", "employment_services") else None
    counts = {}
    con.begin()
    try:
        con.execute(f"delete from {table} where partition_key = ?", [partition])
        con.execute("delete from raw.partition_files where family = ? and partition_key = ?",
                    [family, partition])
        for landed in files:
            data = landed.path.read_bytes()  # read and hashed once per file
            sha = sha256_of(data)
            if family == "training_rosters":
                n = person_level.load_file(con, landed, data, sha, person_level.ROSTERS,
                                           partition, pads)
            elif family == "employment_services":
                n = person_level.load_file(con, landed, data, sha, person_level.EMPLOYMENT,
                                           partition, pads)
            else:
                reader = (aggregated.read_county_submission if family == "county_submissions"
                          else aggregated.read_long_file)
                frame = reader(landed, data, sha, partition)
                con.register("frame", frame)
                con.execute(f"insert into {table} by name select * from frame")
                con.unregister("frame")
                n = len(frame)
            counts[landed.name] = n
            con.execute("insert into raw.partition_files values (?, ?, ?, ?, ?)",
                        [family, partition, str(landed.path), sha, n])
            log(f"{family} {partition}: {landed.name} → {n} rows")
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return counts
