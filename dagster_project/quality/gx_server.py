"""The process GX children are forked from: it imports GX once (about 1.5 s of CPU), then
for each request (a JSON line: validate.py's `_child` arguments) forks a child that validates
and exits, and answers with the child's exit code (a JSON line).

Requests come from the process that started it, on stdin (answers on stdout), and, when it
was given a socket (lib/server_sockets.py), from that process's descendants: the steps of
`tsdg refresh --workers`, which would otherwise each import GX for themselves. It ends when
its stdin closes, that is, with the process that started it (quality/validate.py)."""

import contextlib
import importlib
import json
import os
import selectors
import socket
import sys
import types
from pathlib import Path

from dagster_project.lib import server_sockets

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
# The suites run on DuckDB only. GX imports pyspark, its ML library and SciPy's sparse
# matrices when pyspark is installed (it is, for the Spark engine): seconds for nothing.
# Marked absent here, GX takes it as not installed.
sys.modules["pyspark"] = None


def _on_first_use(name: str) -> None:
    """`name` as a stand-in module that imports the real one when an attribute of it is
    first read (importlib's LazyLoader does not hold: the import system reads a lazy
    module's attributes as it binds it)."""
    stand_in = types.ModuleType(name, "imported on first use (quality/gx_server.py)")

    def real_attribute(attribute: str):
        real = sys.modules.get(name)
        if real is stand_in or real is None:
            sys.modules.pop(name, None)
            real = importlib.import_module(name)
        return getattr(real, attribute)

    stand_in.__getattr__ = real_attribute
    sys.modules[name] = stand_in


# GX imports SciPy's statistics and Altair at import time for the expectations and Data Docs
# charts that use them (distribution tests): about 1 s of CPU, which our suites never use.
# On first use instead: a suite that did use them would still find them.
for _name in ("scipy.stats", "altair"):
    _on_first_use(_name)


def _answer(line: bytes) -> bytes:
    """Validate as `line` asks, in a forked child; the child's exit code as a JSON line."""
    from dagster_project.quality.validate import _child

    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        try:
            _child(**request)  # never returns: the child exits
        finally:
            os._exit(1)  # nor, whatever happens, unwinds into the server's loop
    _, status = os.waitpid(pid, 0)
    return (json.dumps({"exit": os.waitstatus_to_exitcode(status)}) + "\n").encode()


def _serve_connection(conn: socket.socket) -> None:
    conn.settimeout(10)  # a client that connects and says nothing holds no one up
    with conn, conn.makefile("rb") as reader:
        try:
            line = reader.readline()
        except OSError:
            return
        if line:
            conn.settimeout(None)
            with contextlib.suppress(OSError):  # the client went away meanwhile
                conn.sendall(_answer(line))


def _warm_duckdb_dialect() -> None:
    """SQLAlchemy's DuckDB dialect, which GX's data source loads on its first connection:
    imported here, with the settings it reads from a DuckDB of its own, it is not imported
    again in every child (about 0.05 s of a validation's 0.7 s). Those in-memory DuckDBs are closed
    before any fork: no DuckDB thread lives in this process when it forks a child."""
    import duckdb_engine  # noqa: F401 - (its import opens and closes one)
    from duckdb_engine.config import get_core_config

    get_core_config()  # cached for the process, its DuckDB closed when the result is read


def main(path: Path | None) -> None:
    # The answers go out on the original stdout; anything else printed (by GX, by a child)
    # goes to stderr, so it cannot be taken for an answer.
    answers = os.dup(1)
    os.dup2(2, 1)
    listener = server_sockets.listen(path) if path is not None else None
    # The point of this process: GX (with the modules validate._validate takes from it, and
    # SQLAlchemy) and our DuckDB fix, imported once for every child.
    import great_expectations  # noqa: F401

    from dagster_project.quality import gx_duckdb  # noqa: F401

    _warm_duckdb_dialect()

    selector = selectors.DefaultSelector()
    selector.register(0, selectors.EVENT_READ)
    if listener is not None:
        selector.register(listener, selectors.EVENT_READ)
    pending = b""
    try:
        while True:
            for key, _ in selector.select():
                if key.fileobj is listener:
                    conn, _ = listener.accept()
                    _serve_connection(conn)
                    continue
                data = os.read(0, 65536)
                if not data:
                    return  # the owner has gone
                pending += data
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    os.write(answers, _answer(line))
    finally:
        if listener is not None:
            listener.close()
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
    # GX's import leftovers die with this process, unreported.
    os._exit(0)
