"""The process this process's dbt invocations are forked from.

A dbt build started as a program imports dbt and parses the project (its parse state reused,
dbt_in_build.py) before it builds anything: about 3 s of CPU of a tiny build's 5, paid by
every refresh. The server does both once: it imports dbt, parses the project with the
builds' profile and vars, then forks a child per invocation, which runs dbt on the parsed
project (dbt's programmatic API takes a parsed manifest) with the invocation's arguments,
folder, environment and standard streams, and exits with dbt's exit code.

`tsdg-dbt` (what dagster-dbt starts) is the client: it finds the nearest server of its
lineage (lib/server_sockets.py: the refresh that started it, or, for a step of
`--workers`, the refresh that started the step) by a socket named for that process and
kind, hands over its arguments,
folder, environment and stdin/stdout/stderr, forwards SIGINT and SIGTERM to the child, and
exits with the child's code; with no server it runs dbt itself, as before. So dagster-dbt
still starts a subprocess and reads dbt's JSON log from it; only dbt's start-up is gone.

The parse is used only when it is the invocation's own: the same project directory,
profiles directory, target and --vars, and no project file newer than the parse (else
the child parses, as dbt would). The server ends when the process that started it does
(its stdin closes); its children are stopped with it.

Only the standard library is imported at the top: the client must start in milliseconds.
"""

import atexit
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from dagster_project.lib import fork_server, server_sockets
from dagster_project.lib.owned_process import disowned, stop_owned


def socket_path(owner_pid: int) -> Path:
    """The socket of the server started by process `owner_pid`."""
    return server_sockets.socket_path(owner_pid, "dbt")


# --- the owner's side: start the server, stop it at exit ---------------------------------

_SERVER: subprocess.Popen | None = None
_LOCK = threading.Lock()


def start() -> None:
    """Start this process's dbt server (if not running): it parses while the run ingests."""
    global _SERVER
    with _LOCK:
        if _SERVER is not None and _SERVER.poll() is None:
            return
        stop()
        path = server_sockets.prepared(os.getpid(), "dbt")
        if path is None:  # no private folder for it: dbt runs as before
            return
        # dbt makes multiprocessing locks; those a child leaves (it ends with os._exit) the
        # server's resource tracker removes when the server ends, and warns that it did,
        # once per server: the warning is noise, the removal is the point.
        quiet = "ignore::UserWarning:multiprocessing.resource_tracker"
        _SERVER = subprocess.Popen([sys.executable, "-W", quiet, "-m", __name__, str(path)],
                                   stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        # Its socket is bound before it imports dbt (a few hundredths of a second): a client
        # started before that would run dbt itself while the server parsed for nothing.
        for _ in range(200):
            if path.exists() or _SERVER.poll() is not None:
                break
            time.sleep(0.01)


def ensure() -> None:
    """A server for this process's dbt invocations: an ancestor's if one listens (a step of
    `tsdg refresh --workers` uses the refresh's), else this process's own, started now."""
    if server_sockets.nearest("dbt") is None:
        start()


def _forget() -> None:
    """A process forked from this one (a refresh forked by `tsdg serve`, refresh_server.py)
    uses this process's server as an ancestor's: its exit must not stop it, nor its copies
    of the pipes keep it (as the report's browser, publish/pdf_printer.py)."""
    global _SERVER, _LOCK
    _LOCK = threading.Lock()  # a fork during a start copies the lock held
    disowned(_SERVER)
    _SERVER = None


os.register_at_fork(after_in_child=_forget)


def stop() -> None:
    """Stop this process's server (it stops its children first)."""
    if _SERVER is not None:
        stop_owned(_SERVER)


def _stop_at_exit() -> None:
    with _LOCK:
        stop()


atexit.register(_stop_at_exit)


# --- the client's side: tsdg-dbt ---------------------------------------------------------

def run_via_server(argv: list[str]) -> int | None:
    """dbt `argv` in a child of the nearest server in this process's lineage (the refresh
    that started it, directly or through a step process): its exit code; None when there is
    no server to take it (the caller then runs dbt itself)."""
    path = server_sockets.nearest("dbt")
    if path is None:
        return None
    code = fork_server.call(path, {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)},
                            "tsdg-dbt")
    return code if isinstance(code, int) else None  # this server refuses nothing


# --- the server ----------------------------------------------------------------------------

def _option(argv: list[str], name: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


class _Parsed:
    """The project as parsed once, and what an invocation must share to use it."""

    def __init__(self, manifest, env: dict, argv: list[str], newest: float):
        self.manifest, self.env, self.argv, self.newest = manifest, env, argv, newest

    def serves(self, argv: list[str], env: dict) -> bool:
        from dagster_project.dbt_manifest import newest_project_file

        for name in ("--target", "-t", "--profile", "--project-dir", "--profiles-dir"):
            if _option(argv, name) != _option(self.argv, name):
                return False
        vars_given, vars_parsed = _option(argv, "--vars"), _option(self.argv, "--vars")
        if (json.loads(vars_given) if vars_given else None) != \
                (json.loads(vars_parsed) if vars_parsed else None):
            return False
        for name in ("DBT_PROJECT_DIR", "DBT_PROFILES_DIR", "DBT_TARGET"):
            if env.get(name) is not None and \
                    Path(env[name]).resolve() != Path(self.env.get(name, "")).resolve():
                return False
        # environment variables the project read while parsing (dbt records them)
        if any(env.get(k) != self.env.get(k) for k in self.manifest.env_vars):
            return False
        return newest_project_file() <= self.newest


def _parse(scratch: Path) -> _Parsed | None:
    """dbt's parse of the project with the builds' profile and vars, from the parse state
    made at setup (dbt/target/partial_parse.msgpack); None if it cannot be made."""
    from dbt.cli.main import dbtRunner

    from dagster_project.config import DBT_PROJECT_DIR
    from dagster_project.dbt_manifest import BUILD_VARS, newest_project_file

    newest = newest_project_file()
    state = DBT_PROJECT_DIR / "target" / "partial_parse.msgpack"
    if state.exists():
        shutil.copy(state, scratch / state.name)
    env = {**os.environ, "DBT_PROJECT_DIR": str(DBT_PROJECT_DIR),
           "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR)}
    argv = ["parse", "--quiet", "--vars", json.dumps(BUILD_VARS)]
    os.environ.update(env)  # this server's own environment: it runs nothing else
    result = dbtRunner().invoke([*argv, "--target-path", str(scratch)])
    if not result.success:
        return None
    return _Parsed(result.result, env, argv, newest)


def _run(request: dict, parsed: _Parsed | None) -> int:
    """In a child (lib/fork_server.py): dbt with the request's arguments, on the parse if it
    is the invocation's own; dbt's own exit codes: 0 success, 1 a node failed, 2 dbt itself
    failed."""
    from dbt.cli.main import dbtRunner

    argv = request["argv"]
    manifest = parsed.manifest if parsed and parsed.serves(argv, os.environ) else None
    result = dbtRunner(manifest=manifest).invoke(argv)
    if result.exception is not None:
        print(f"dbt: {type(result.exception).__name__}: {result.exception}", file=sys.stderr)
    return 0 if result.success else (1 if result.exception is None else 2)


def serve(path: Path) -> None:
    listener = server_sockets.listen(path)  # clients that come while dbt parses wait
    # A folder of its own, removed in `finally` (not a TemporaryDirectory: its clean-up at
    # exit would run in every child, whose exit handlers run; lib/fork_server.py).
    scratch = Path(tempfile.mkdtemp(dir=path.parent, prefix=f"{path.stem}.parse"))
    try:
        os.chdir(scratch)
        try:
            parsed = _parse(scratch)
        except Exception:  # noqa: BLE001 - without a parse, children parse for themselves
            parsed = None
        sys.stdout.flush()
        sys.stderr.flush()
        fork_server.serve(listener, lambda request: _run(request, parsed), "tsdg-dbt server",
                          owner=sys.stdin)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


if __name__ == "__main__":
    os.environ.setdefault("DO_NOT_TRACK", "1")
    serve(Path(sys.argv[1]))
    # Ended cleanly (children reaped, socket and scratch folder removed): the interpreter's
    # teardown of dbt's modules, which the owner waits for at its own exit, is skipped.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
