"""Great Expectations on a DuckDB file through SQLAlchemy, as SQL pushdown.

duckdb-engine's cursor is the DuckDB connection itself: when GX releases the connection
its rollback discards the pending result before GX fetches it, and every expectation
fails with 'list index out of range' (duckdb_engine #1087/#734, GX #10738/#11579).
Buffering the rows (SQLAlchemy `Result.freeze()`) while the connection is open fixes it;
the expectations still run as aggregate SQL inside DuckDB.
"""

from great_expectations.execution_engine import sqlalchemy_execution_engine as engine_module

_Engine = engine_module.SqlAlchemyExecutionEngine
_original = _Engine._execute_query_with_recovery


def _buffered(connection, query):
    result = _original(connection, query)
    return result.freeze()() if result.returns_rows else result


def install() -> None:
    if _Engine._execute_query_with_recovery is not _buffered_static:
        _Engine._execute_query_with_recovery = _buffered_static


_buffered_static = staticmethod(_buffered)
