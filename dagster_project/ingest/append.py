"""Append rows held in Python to a table in one statement."""

import duckdb


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict]) -> None:
    """Append rows (dicts with the same keys) to `schema.table`: a list per column, each cast
    to the column's declared type (a column of counts and placeholders stays BIGINT, a
    column of NULLs takes its type), one statement however many rows."""
    if not rows:
        return
    schema, name = table.split(".")
    types = dict(con.execute("select column_name, data_type from duckdb_columns() where "
                             "schema_name = ? and table_name = ?", [schema, name]).fetchall())
    columns = list(rows[0])
    con.execute(f"insert into {table} ({', '.join(columns)}) select "
                + ", ".join(f"unnest(?::{types[c]}[])" for c in columns),
                [[row.get(c) for row in rows] for c in columns])
