"""`tsdg serve`: a refresh without its start-up.

Every `tsdg refresh` process imports Dagster, the definitions, pandas and the release's
writers (about 2 s of CPU on the run's path), and starts a dbt server (dbt imported, the
project parsed: about 2 s) and a GX server (GX imported: about 1.5 s) on the other core. A
refresh of one resubmitted county file does little else. `tsdg serve` pays all of it once:
it imports what a refresh imports, starts its dbt and GX servers, and forks each
`tsdg refresh` of this user from itself (lib/fork_server.py): the refresh runs in the child
with the client's arguments, folder, environment and standard streams, its dbt and GX are
forked from the server's (the nearest in its lineage, lib/server_sockets.py), and its exit
code is the client's. The run is the same run: the same job, lock, write-audit-publish and
event log.

A refresh is forked only when what the server imported is what the client would import:
the same Python, the same environment where it is read at import (TSDG_…, DAGSTER_…, DBT_…,
GX_…, PYTHON…, locale, time zone, temporary folder, HOME) and the same code (the package,
registry, dbt project, suites and installed packages, by their files' times and sizes).
Otherwise the client is told why (names, never values: the environment holds the
pseudonymisation key) and refreshes in its own process; when the code has changed, the
server restarts itself once the refreshes it forked have ended.

What a refresh imports lazily (Dagster's storage migrations, the release's writers, …) the
server learns from the refreshes it forks: each child leaves the names of its modules, and
the server imports those it lacks before the next fork (and keeps the list for its next
start).

Only the standard library is imported at the top: `tsdg refresh` imports this module to
find a server.
"""

import contextlib
import hashlib
import importlib
import json
import os
import signal
import sys
import sysconfig
import threading
import time
from pathlib import Path

from dagster_project.lib import fork_server, server_sockets

KIND = "refresh"
# The environment a refresh reads at import (config.py reads TSDG_…; Dagster, dbt and GX
# their own; the interpreter PYTHON… and the locale; tempfile caches the folder): a served
# refresh would see the server's values, so a client must share them.
_SHARED_PREFIXES = ("TSDG_", "DAGSTER_", "DBT_", "GX_", "PYTHON", "LC_")
_SHARED_NAMES = ("DO_NOT_TRACK", "HOME", "LANG", "TEMP", "TMP", "TMPDIR", "TZ", "VIRTUAL_ENV")
# What the code is: these folders of the project and the installed packages.
_CODE_FOLDERS = ("dagster_project", "registry", "dbt", "expectations", "deploy")
_NOT_CODE = {"target", "logs", "dbt_packages", "__pycache__", ".pytest_cache"}

SERVED = False  # set in a refresh forked by the server: it runs here, not via a server


# --- the client: tsdg refresh ----------------------------------------------------------

def run_served(argv: list[str], progress) -> int | None:
    """`tsdg <argv>` forked from a running `tsdg serve`: the refresh's exit code; None when
    there is none, or it cannot take this refresh (said through `progress`): the caller
    then refreshes in its own process."""
    if SERVED:
        return None
    for path in server_sockets.listening(KIND):
        body = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ),
                "executable": sys.executable}
        code = fork_server.call(path, body, "tsdg refresh")
        if isinstance(code, str):
            progress(f"tsdg serve ({path.name.split('.')[0]}) cannot take this refresh: {code}; "
                     "refreshing in this process")
            return None
        if code is not None:
            return code
    return None


# --- the server ----------------------------------------------------------------------------

def _shared(env: dict) -> dict:
    return {k: v for k, v in env.items()
            if k.startswith(_SHARED_PREFIXES) or k in _SHARED_NAMES}


def code_stamp(root: Path | None = None) -> str:
    """A digest of the code's files (path, size, modification time) and of the installed
    packages' folder: it changes when the code, registry, models, suites or packages do."""
    if root is None:
        from dagster_project.config import PROJECT_ROOT as root
    digest = hashlib.sha256()
    for folder in _CODE_FOLDERS:
        for here, dirs, files in os.walk(root / folder):
            dirs[:] = sorted(d for d in dirs if d not in _NOT_CODE)
            for name in sorted(files):
                with contextlib.suppress(FileNotFoundError):
                    info = os.stat(os.path.join(here, name))
                    digest.update(f"{here}/{name}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    for name in ("pyproject.toml",):
        with contextlib.suppress(FileNotFoundError):
            info = (root / name).stat()
            digest.update(f"{name}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    site = Path(sysconfig.get_paths()["purelib"])  # the installed packages
    digest.update(f"{site}\0{site.stat().st_mtime_ns}\n".encode())
    return digest.hexdigest()


def refusal(request: dict, env: dict, executable: str, stamp: str,
            root: Path | None = None) -> str | None:
    """Why a refresh asked for by `request` cannot be forked from a server that started with
    `env`, `executable` and the code `stamp`; None if it can."""
    argv = request.get("argv") or []
    if argv[:1] != ["refresh"]:
        return "it serves `tsdg refresh` only"
    if request.get("executable") != executable:
        return f"it runs another Python ({executable})"
    theirs, ours = _shared(request.get("env") or {}), _shared(env)
    differ = sorted(k for k in theirs.keys() | ours.keys() if theirs.get(k) != ours.get(k))
    if differ:
        return "its environment differs in " + ", ".join(differ)
    if code_stamp(root) != stamp:
        return "the code changed since it started (it restarts)"
    if threading.active_count() > 1:  # a fork copies one thread: the others' locks stay held
        return "it has threads, and a process with threads is not forked"
    return None


def _modules_file() -> Path:
    return server_sockets.home() / f"{KIND}.modules"


def _learn() -> None:
    """Import the modules the refreshes forked so far imported and this process lacks."""
    with contextlib.suppress(OSError, ValueError):
        for name in json.loads(_modules_file().read_text()):
            if name not in sys.modules:
                with contextlib.suppress(Exception):
                    importlib.import_module(name)


def _preload() -> None:
    """Import what a refresh imports (cli.cmd_refresh's imports, and what earlier refreshes
    imported lazily), and start the dbt and GX servers its refreshes will use."""
    from dagster_project import dbt_server
    from dagster_project.dbt_manifest import ensure_manifest

    ensure_manifest()  # before the definitions load (they read it at import)
    importlib.import_module("dagster_project.refresh")
    importlib.import_module("dagster_project.definitions")
    _learn()
    from dagster_project.quality import validate

    dbt_server.start()
    validate.warm()


def _run(request: dict, progress) -> int:
    """In a forked child: the refresh, as `tsdg <argv>` would run it."""
    global SERVED
    SERVED = True
    from dagster_project import cli

    sys.argv = [sys.argv[0], *request["argv"]]
    progress(f"forked from tsdg serve (pid {os.getppid()}): Dagster, the definitions, "
             "dbt's parse and GX already loaded")
    try:
        return cli.main(request["argv"]) or 0
    finally:
        with contextlib.suppress(OSError):
            known = set(json.loads(_modules_file().read_text())) \
                if _modules_file().exists() else set()
            if not set(sys.modules) <= known:
                part = _modules_file().with_suffix(f".{os.getpid()}")
                part.write_text(json.dumps(sorted(known | set(sys.modules))))
                part.replace(_modules_file())


def serve(progress, idle_minutes: float | None = None) -> int:
    """`tsdg serve`: until interrupted (or idle for `idle_minutes`)."""
    env, executable = dict(os.environ), sys.executable
    running = server_sockets.listening(KIND)
    if running:
        progress(f"tsdg serve is already running (pid {running[0].name.split('.')[0]})")
        return 1
    path = server_sockets.prepared(os.getpid(), KIND)
    if path is None:
        progress(f"no private folder for the socket ({server_sockets.home()}): not served")
        return 1
    started = time.monotonic()
    stamp = code_stamp()
    _preload()
    listener = server_sockets.listen(path)
    progress(f"serving `tsdg refresh` for this user, code and environment (pid {os.getpid()}, "
             f"{path}); ready in {time.monotonic() - started:.1f} s. Ctrl-C ends it.")
    state = {"restart": False, "last": time.monotonic(), "children": {}}

    def refuse(request: dict) -> str | None:
        reason = refusal(request, env, executable, stamp)
        if reason is not None:
            progress(f"not served: {reason}")
            state["restart"] = state["restart"] or reason.startswith("the code changed")
        return reason

    def on_fork(pid: int, request: dict) -> None:
        state["children"][pid] = time.monotonic()
        progress(f"refresh {pid} forked: tsdg {' '.join(request['argv'])} (in {request['cwd']})")

    def on_end(pid: int, status: int) -> None:
        began = state["children"].pop(pid, time.monotonic())
        state["last"] = time.monotonic()
        progress(f"refresh {pid} ended: exit {os.waitstatus_to_exitcode(status)} "
                 f"in {time.monotonic() - began:.1f} s")
        if not state["children"]:
            _learn()

    def keep_going() -> bool:
        if state["restart"]:
            return False
        if threading.active_count() > 1 and not state["children"]:
            # something it imported (learnt from a refresh) started a thread: no fork is
            # safe now; start again without what it learnt
            progress("a module it imported started a thread: restarting without the modules "
                     "it learnt from refreshes")
            with contextlib.suppress(FileNotFoundError):
                _modules_file().unlink()
            state["restart"] = True
            return False
        idle = idle_minutes is not None and not state["children"] and \
            time.monotonic() - state["last"] > idle_minutes * 60
        if idle:
            progress(f"no refresh for {idle_minutes:g} minutes: ending")
        return not idle

    # SIGTERM ends it as Ctrl-C does, and Ctrl-C does even if it was started ignoring SIGINT
    # (a shell without job control starts a background command so)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.default_int_handler)
    try:
        fork_server.serve(listener, lambda request: _run(request, progress), "tsdg serve",
                          refuse=refuse, keep_going=keep_going, on_fork=on_fork, on_end=on_end)
    except KeyboardInterrupt:
        pass
    finally:
        listener.close()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    if state["restart"]:
        progress("restarting on the changed code")
        _restart()
    progress("ended")
    return 0


def _restart() -> None:
    """This program again, on the code as it is now. Its dbt and GX servers are stopped
    first: the new image, the same pid, starts servers on the same socket names."""
    from dagster_project import dbt_server
    from dagster_project.quality import validate

    dbt_server.stop()
    validate.stop_server()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "dagster_project.cli", *sys.argv[1:]])
