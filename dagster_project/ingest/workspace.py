"""A family's ingest workspace: the door writes into a DuckDB file of its own, then merges.

DuckDB takes one writing process per file, so ingest steps running side by side (the
refresh job on Dagster's multiprocess executor, `tsdg refresh --workers N`) cannot all
write the build's database. Each family's step instead:

1. takes the build's writer lock for a moment and copies its own family's records
   (raw.landed_files, raw.partition_files) into `builds/<run>/ingest/<family>.duckdb`;
2. reads, validates, pseudonymises and loads its landed files into that workspace, with
   no lock held — the expensive part, and the part that runs in parallel;
3. takes the writer lock again and merges the workspace into the build in one
   transaction: the family's records replaced, the raw rows of every file it (re)loaded
   replaced; then stages those quarters for the lake.

Every family's rows and records belong to its own step, so the merges commute. In one
process (the default executor) the lock is never contended and the result is the same.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from dagster_project.config import INGEST_DUCKDB_CONFIG
from dagster_project.ingest.lifecycle import restore_quarantine_records
from dagster_project.ingest.load import RECORD_TABLES, ensure_raw_tables
from dagster_project.lib.duckdb_tables import sql_string
from dagster_project.lib.source_contract import door
from dagster_project.write_audit_publish import writer


def open_workspace(database: Path, family: str, quarantine_dir: Path) -> Path:
    """A fresh workspace for `family`, holding the family's records as the build has them."""
    path = database.parent / "ingest" / f"{family}.duckdb"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # a retried step starts from the build again
    with writer(database) as con:
        ensure_raw_tables(con)  # a first run: the build has no raw tables yet
        con.execute(f"attach {sql_string(path)} as workspace")
        con.execute("create schema workspace.raw")
        for table in RECORD_TABLES:
            con.execute(f"create table workspace.raw.{table} as "
                        f"select * from raw.{table} where family = ?", [family])
        con.execute("detach workspace")
    with duckdb.connect(str(path), config=INGEST_DUCKDB_CONFIG) as con:
        ensure_raw_tables(con)  # the family's raw table, empty: it receives this run's loads
        # the family's own (the merge takes back only the family's records)
        restore_quarantine_records(con, quarantine_dir, family)
    return path


@contextmanager
def merged(database: Path, workspace: Path, family: str,
           quarantine_dir: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """Into the build, in one transaction: the family's records as the workspace left them,
    and for every (quarter, file) the workspace loaded, its rows instead of the build's.
    Yields the build, the lock still held, for what follows the merge (the lake's copy)."""
    table = door().family(family).raw_table
    with writer(database) as con:
        ensure_raw_tables(con)
        con.execute(f"attach {sql_string(workspace)} as workspace (read_only)")
        con.begin()
        try:
            con.execute(f"""delete from {table} as b where exists (
                select 1 from workspace.{table} as w
                where w.partition_key = b.partition_key and w.file_sha256 = b.file_sha256)""")
            con.execute(f"insert into {table} by name select * from workspace.{table}")
            for records in RECORD_TABLES:
                con.execute(f"delete from raw.{records} where family = ?", [family])
                con.execute(f"insert into raw.{records} by name "
                            f"select * from workspace.raw.{records} where family = ?", [family])
            # Every family's refused files, from their reports (the durable record): a family
            # this run does not ingest gets back what an unpublished build lost.
            restore_quarantine_records(con, quarantine_dir)
            con.commit()
        except BaseException:
            con.rollback()
            raise
        con.execute("detach workspace")
        yield con
    workspace.unlink()
