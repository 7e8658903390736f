"""The lake: the warehouse's landed rows as Parquet, for a second engine (dbt on Spark).

    <warehouse>/lake/<family>/partition_key=<quarter>/part-0.parquet   one family-quarter
    <warehouse>/lake/_raw/<table>.parquet                    raw.landed_files, raw.partition_files
    <warehouse>/lake/_registry/<table>.parquet               every registry.* table

The rows are the raw tables' own: validated and pseudonymised at ingest (person_key, never
an ID), every vintage kept (the models choose the current one from landed_files). The
folder name carries the partition_key column (Hive style; the files hold the other
columns), so a reader with partition discovery sees exactly the raw table's columns. The
key is not called `quarter`: county submissions have a data column of that name (1–4).

Write-audit-publish holds for the lake as for the warehouse: a run writes the quarters it
ingests into its build (builds/<run>/lake/), and only the promotion of an audited, published
build moves them into <warehouse>/lake/. A quarter's folder is exchanged with the old one in
one rename (renameat2 RENAME_EXCHANGE), so a reader sees the old quarter or the new, never
half of one; a single table's file is replaced with os.replace. A run that fails or is
blocked never touches the lake.
"""

import ctypes
import os
import shutil
from pathlib import Path

import duckdb

from dagster_project.ingest.load import RECORD_TABLES
from dagster_project.lib.duckdb_tables import sql_string
from dagster_project.lib.source_contract import door

LAKE = "lake"
PART = "part-0.parquet"
KEY = "partition_key"


def lake_dir(warehouse_dir: Path) -> Path:
    return warehouse_dir / LAKE


def _copy(con: duckdb.DuckDBPyConnection, query: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    con.execute(f"copy ({query}) to {sql_string(target)} (format parquet, compression zstd)")


def _quarter_dir(root: Path, family: str, partition: str) -> Path:
    return root / family / f"{KEY}={partition}"


# A quarter's rows in one order, whoever writes them (vintages of a file share its name).
ROW_ORDER = "source_file, source_row, file_sha256"


def _copy_quarter(con, root: Path, family: str, partition: str) -> None:
    _copy(con, f"select * exclude ({KEY}) from {door().family(family).raw_table} "
               f"where {KEY} = {sql_string(partition)} order by {ROW_ORDER}",
          _quarter_dir(root, family, partition) / PART)


def stage_partitions(con: duckdb.DuckDBPyConnection, build_dir: Path, family: str,
                     partitions: list[str]) -> None:
    """After a family's quarters are loaded in the build: each quarter's rows, all
    vintages, as Parquet in the build's lake (moved into the warehouse's lake only when the
    build is promoted). One partitioned COPY writes them all (a first tiny refresh stages
    180 quarters: 0.4 s of CPU instead of 0.7 s one COPY each), on one thread, so that each
    quarter is one file, its rows in ROW_ORDER; a quarter left without rows gets an empty
    file of its own, which replaces the one before it."""
    if not partitions:
        return
    root = build_dir / LAKE
    made = root / f".{family}.partitioned"
    shutil.rmtree(made, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    [(threads,)] = con.execute("select current_setting('threads')").fetchall()
    con.execute("set threads = 1")
    try:
        con.execute(f"""copy (select * from {door().family(family).raw_table}
                              where {KEY} in ({', '.join(sql_string(p) for p in partitions)})
                              order by {KEY}, {ROW_ORDER})
                        to {sql_string(made)} (format parquet, compression zstd,
                            partition_by ({KEY}), filename_pattern 'part-{{i}}')""")
    finally:
        con.execute(f"set threads = {int(threads)}")
    for partition in partitions:
        quarter, target = made / f"{KEY}={partition}", _quarter_dir(root, family, partition)
        if not quarter.exists():
            _copy_quarter(con, root, family, partition)
            continue
        shutil.rmtree(target, ignore_errors=True)  # a step tried again
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(quarter, target)
    shutil.rmtree(made, ignore_errors=True)


def _stage_tables(con, staged: Path, published: Path) -> None:
    """The small tables in full, and any family-quarter the published lake lacks (a
    warehouse older than the lake, or a lake removed by hand) that the run did not stage."""
    for table in RECORD_TABLES:
        _copy(con, f"select * from raw.{table}", staged / "_raw" / f"{table}.parquet")
    for (table,) in con.execute("select table_name from information_schema.tables "
                                "where table_schema = 'registry'").fetchall():
        _copy(con, f"select * from registry.{table}", staged / "_registry" / f"{table}.parquet")
    for f in door().families.values():
        for (partition,) in con.execute(
                f"select distinct partition_key from {f.raw_table}").fetchall():
            if not any((_quarter_dir(root, f.name, partition) / PART).exists()
                       for root in (published, staged)):
                _copy_quarter(con, staged, f.name, partition)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_RENAMEAT2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2); False where the system cannot."""
    if _RENAMEAT2 is None:
        return False
    return _RENAMEAT2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b),
                     _RENAME_EXCHANGE) == 0


def _move_quarter(new: Path, target: Path) -> None:
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(new, target)
        return
    if not _exchange(new, target):  # two renames: a reader may find the quarter missing
        old = new.with_name(new.name + ".old")
        os.replace(target, old)
        os.replace(new, target)
        new = old
    shutil.rmtree(new)  # after the exchange, `new` holds the old quarter


def complete_for_engine(build_database: Path, build_dir: Path, warehouse_dir: Path) -> Path:
    """The lake as this build sees it, for a second engine to read before publication: the
    build's staged quarters and small tables, and a link to each published quarter the
    build did not change (links are never moved on promotion; the writer lock keeps the
    published quarters still meanwhile). Returns the build's lake folder."""
    staged, published = build_dir / LAKE, lake_dir(warehouse_dir)
    with duckdb.connect(str(build_database), read_only=True) as con:
        _stage_tables(con, staged, published)
    for family_dir in (sorted(p for p in published.iterdir() if not p.name.startswith("_"))
                       if published.exists() else []):
        for quarter in sorted(family_dir.iterdir()):
            mine = staged / family_dir.name / quarter.name
            if quarter.name.startswith(f"{KEY}=") and not mine.exists():
                mine.parent.mkdir(parents=True, exist_ok=True)
                mine.symlink_to(quarter.resolve(), target_is_directory=True)
    return staged


def publish(build_database: Path, build_dir: Path, warehouse_dir: Path) -> int:
    """Promotion of an audited build: the quarters it staged, and the small tables, become
    the warehouse's lake. Returns the number of family-quarters moved."""
    staged, published = build_dir / LAKE, lake_dir(warehouse_dir)
    with duckdb.connect(str(build_database), read_only=True) as con:
        _stage_tables(con, staged, published)
    moved = 0
    for family_dir in sorted(p for p in staged.iterdir() if not p.name.startswith("_")):
        for quarter in sorted(family_dir.iterdir()):
            if quarter.is_symlink():  # a published quarter, linked for a second engine
                continue
            _move_quarter(quarter, published / family_dir.name / quarter.name)
            moved += 1
    for group in ("_raw", "_registry"):
        for table in sorted((staged / group).iterdir()):
            (published / group).mkdir(parents=True, exist_ok=True)
            os.replace(table, published / group / table.name)
    shutil.rmtree(staged)
    return moved
