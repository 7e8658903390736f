"""The tables a DuckDB connection holds, as `schema.table` names."""


def table_names(con) -> set[str]:
    return {r[0] for r in con.execute(
        "select table_schema || '.' || table_name from information_schema.tables").fetchall()}
