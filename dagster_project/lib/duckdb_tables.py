"""DuckDB helpers: the tables a connection holds, and text as a SQL string literal."""


def table_names(con) -> set[str]:
    return {r[0] for r in con.execute(
        "select table_schema || '.' || table_name from information_schema.tables").fetchall()}


def sql_string(text) -> str:
    """`text` (a path, a partition key) as a SQL string literal, quotes doubled: for the
    statements that take no parameters (ATTACH, COPY ... TO)."""
    return "'" + str(text).replace("'", "''") + "'"
