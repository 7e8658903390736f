"""Validation results that travel with the tables they describe.

A build keeps the models of unchanged families as the last published build left them
(model_reuse.py): the same bytes, validated by that build's suites, which are this build's
suites too (a different project keeps nothing). Their suites need not run again: their
results are carried over, marked with the run that validated the table. The results live
in the warehouse file beside the tables (`meta.validated`), so they are promoted, copied and
retired with them: a table and the result that describes it can never come from two
different builds.
"""

import json
from pathlib import Path

import duckdb

from dagster_project.config import DUCKDB_CONFIG
from dagster_project.lib.duckdb_tables import table_names
from dagster_project.write_audit_publish import writer

TABLE = "meta.validated"


def carried(database: Path, kept_tables: set[str]) -> list[dict]:
    """The recorded suite reports of tables this build kept (`schema.table`)."""
    if not kept_tables:
        return []
    with duckdb.connect(str(database), read_only=True, config=DUCKDB_CONFIG) as con:
        if TABLE not in table_names(con):
            return []
        rows = con.execute(f"select report from {TABLE} where table_name in "
                           f"({', '.join('?' * len(kept_tables))}) order by suite",
                           sorted(kept_tables)).fetchall()
    return [json.loads(r) for (r,) in rows]


def remember(database: Path, results: dict, run_id: str) -> None:
    """Every suite's report as this build stands, for the builds that keep its tables.
    Carried reports keep the run that validated them."""
    rows = [(r["suite"], r["table"], json.dumps(
        r if "validated_by_run" in r else {**r, "validated_by_run": run_id}, ensure_ascii=False))
        for r in results["suites"]]
    with writer(database) as con:
        con.execute("create schema if not exists meta")
        con.execute(f"create or replace table {TABLE} (suite varchar, table_name varchar, "
                    "report varchar)")
        if rows:
            con.executemany(f"insert into {TABLE} values (?, ?, ?)", rows)
