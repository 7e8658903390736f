"""The statisticians' door to a release: read-only, confined to the release file.

`tsdg query` and the Python/SQLAlchemy access documented in the README open a release
through here. DuckDB's own settings do the confining — no file outside the database can be
read or written, nothing attached, no extension installed — and the configuration is then
locked so a query cannot undo it. Statements other than reads are refused up front with a
message that names them, so a user learns why instead of meeting a permission error.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

# A release's database, and how a reader finds the latest release: kept here, with no
# import of the writers, so that `tsdg query` starts without loading pandas or the
# publication code.
RELEASE_DB = "release.duckdb"
SEARCH_PATH = "marts,registry"
CONFIG = {"enable_external_access": False, "autoinstall_known_extensions": False,
          "autoload_known_extensions": False, "allow_community_extensions": False}
READS = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}
DEFAULT_MAX_ROWS = 1_000_000
DEFAULT_TIMEOUT_S = 300.0


class QueryRefused(ValueError):
    """A statement that a release connection does not run."""


def latest_release(releases_dir: Path) -> Path | None:
    latest = releases_dir / "latest"
    return latest.resolve() if latest.exists() else None


# Run on every new connection, in this order: the lock comes last.
LOCK_STATEMENTS = (f"set search_path = '{SEARCH_PATH}'", "set lock_configuration = true")


def lock(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Put the marts and registry on the search path, then lock the configuration."""
    for statement in LOCK_STATEMENTS:
        con.execute(statement)
    return con


def connect(release_db: Path) -> duckdb.DuckDBPyConnection:
    """A read-only, confined connection to one release file."""
    return lock(duckdb.connect(str(release_db), read_only=True, config=CONFIG))


def engine(release_db: Path):
    """A SQLAlchemy engine (duckdb-engine) whose every connection is confined likewise."""
    from sqlalchemy import create_engine, event

    eng = create_engine(f"duckdb:///{release_db}",
                        connect_args={"read_only": True, "config": CONFIG})
    event.listen(eng, "connect", lambda dbapi_con, _record: _lock_dbapi(dbapi_con))
    return eng


def _lock_dbapi(dbapi_con) -> None:
    cursor = dbapi_con.cursor()
    for statement in LOCK_STATEMENTS:
        cursor.execute(statement)
    cursor.close()


def check_reads_only(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Refuse anything but SELECT (with WITH, SHOW, DESCRIBE, SUMMARIZE) and EXPLAIN.
    Parsed by `con` (the module-level parser would open a default connection that
    outlives the command)."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryRefused(f"the query does not parse: {exc}") from None
    if not statements:
        raise QueryRefused("no statement given")
    for statement in statements:
        if statement.type not in READS:
            kind = statement.type.name
            raise QueryRefused(
                f"{kind} statements are not run on a release: it is read-only and confined "
                f"to its own tables (only SELECT, WITH … SELECT, SHOW, DESCRIBE, SUMMARIZE "
                f"and EXPLAIN are); copy results with `tsdg query … > file.csv`")


@contextmanager
def time_limit(con: duckdb.DuckDBPyConnection, seconds: float) -> Iterator[threading.Event]:
    """Interrupt the connection's running query after `seconds`; the event tells whether
    it fired."""
    fired = threading.Event()

    def stop():
        fired.set()
        con.interrupt()

    timer = threading.Timer(seconds, stop)
    timer.daemon = True
    timer.start()
    try:
        yield fired
    finally:
        timer.cancel()
