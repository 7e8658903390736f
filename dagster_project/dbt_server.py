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
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from dagster_project.lib import server_sockets
from dagster_project.lib.owned_process import stop_owned

_WORD = struct.Struct("!q")


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


def stop() -> None:
    """Stop this process's server (it stops its children first)."""
    if _SERVER is not None:
        stop_owned(_SERVER)


def _stop_at_exit() -> None:
    with _LOCK:
        stop()


atexit.register(_stop_at_exit)


# --- the client's side: tsdg-dbt ---------------------------------------------------------

def _read_word(sock: socket.socket) -> int | None:
    data = b""
    while len(data) < _WORD.size:
        chunk = sock.recv(_WORD.size - len(data))
        if not chunk:
            return None
        data += chunk
    return _WORD.unpack(data)[0]


def run_via_server(argv: list[str]) -> int | None:
    """dbt `argv` in a child of the nearest server in this process's lineage (the refresh
    that started it, directly or through a step process): its exit code; None when there is
    no server to take it (the caller then runs dbt itself)."""
    path = server_sockets.nearest("dbt")
    if path is None:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
        body = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
        socket.send_fds(sock, [_WORD.pack(len(body))], [0, 1, 2])
        sock.sendall(body)
        child = _read_word(sock)
    except OSError:
        child = None
    if child is None:  # no server listening, or it ended before forking: nothing ran
        sock.close()
        return None
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: os.kill(child, signum))
    code = _read_word(sock)
    if code is None:
        print(f"tsdg-dbt: the dbt process {child} ended without an exit code", file=sys.stderr)
        return 2
    return code


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


def _child(conn: socket.socket, request: dict, fds: list[int], parsed: _Parsed | None) -> None:
    """In the forked child: dbt with the client's arguments, folder, environment and
    streams; the exit code back to the client; never returns."""
    code = 2
    try:
        conn.sendall(_WORD.pack(os.getpid()))  # first: the client forwards signals to it
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _watch_client(conn)
        from dbt.cli.main import dbtRunner

        argv = request["argv"]
        manifest = parsed.manifest if parsed and parsed.serves(argv, os.environ) else None
        result = dbtRunner(manifest=manifest).invoke(argv)
        # dbt's own exit codes: 0 success, 1 a node failed, 2 dbt itself failed
        code = 0 if result.success else (1 if result.exception is None else 2)
        if result.exception is not None:
            print(f"dbt: {type(result.exception).__name__}: {result.exception}", file=sys.stderr)
    except BaseException as error:  # noqa: BLE001 - the child must always answer
        with contextlib.suppress(Exception):
            print(f"tsdg-dbt server child: {type(error).__name__}: {error}", file=sys.stderr)
    finally:
        # The client closes its end once it has the code, and the watcher would interrupt
        # what is left of this (a KeyboardInterrupt between the answer and the exit).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        # End as dbt's own process would before answering: its exit handlers close what it
        # opened (dbt-duckdb closes its database, which checkpoints it: a build left with
        # its data in the WAL would lose it when the file alone is moved). The server's own
        # handlers have nothing to do in a child: it keeps no state they would clean up.
        with contextlib.suppress(Exception):
            atexit._run_exitfuncs()
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        with contextlib.suppress(OSError):
            conn.sendall(_WORD.pack(code))
        os._exit(code)


def _watch_client(conn: socket.socket) -> None:
    """If the client goes away (killed) before dbt finishes, stop dbt: interrupt it, then
    end the process if it does not stop."""
    def watch():
        with contextlib.suppress(OSError):
            while conn.recv(64):
                pass
        os.kill(os.getpid(), signal.SIGINT)
        threading.Event().wait(30)
        os._exit(2)

    threading.Thread(target=watch, daemon=True).start()


def _receive(conn: socket.socket) -> tuple[dict, list[int]] | None:
    header, fds, _, _ = socket.recv_fds(conn, _WORD.size, 3)
    if len(header) != _WORD.size or len(fds) != 3:
        for fd in fds:
            os.close(fd)
        return None
    size, body = _WORD.unpack(header)[0], b""
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        if not chunk:
            break
        body += chunk
    return json.loads(body), fds


def serve(path: Path) -> None:
    listener = server_sockets.listen(path)  # clients that come while dbt parses wait
    children: set[int] = set()
    # A folder of its own, removed in `finally` (not a TemporaryDirectory: its clean-up at
    # exit would run in every child, whose exit handlers run; see _child).
    scratch = Path(tempfile.mkdtemp(dir=path.parent, prefix=f"{path.stem}.parse"))
    try:
        os.chdir(scratch)
        try:
            parsed = _parse(scratch)
        except Exception:  # noqa: BLE001 - without a parse, children parse for themselves
            parsed = None
        sys.stdout.flush()
        sys.stderr.flush()
        selector = selectors.DefaultSelector()
        selector.register(listener, selectors.EVENT_READ)
        selector.register(sys.stdin, selectors.EVENT_READ)
        while True:
            for key, _ in selector.select(timeout=1.0):
                if key.fileobj is sys.stdin:
                    if not sys.stdin.buffer.read1(4096):
                        return  # the owner has gone
                    continue
                conn, _ = listener.accept()
                conn.settimeout(10)  # a client that connects and says nothing holds no one up
                try:
                    received = _receive(conn)
                except (OSError, ValueError):
                    received = None
                if received is None:
                    conn.close()
                    continue
                request, fds = received
                pid = os.fork()
                if pid == 0:
                    # Whatever happens in the child (a signal between two statements), it
                    # ends here: unwound into this function, it would run the server's
                    # clean-up below and remove the server's socket and parse.
                    try:
                        listener.close()
                        conn.settimeout(None)
                        _child(conn, request, fds, parsed)
                    finally:
                        os._exit(2)
                children.add(pid)
                conn.close()
                for fd in fds:
                    os.close(fd)
            children -= _reaped(children)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        for pid in children:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _reaped(children: set[int]) -> set[int]:
    done = set()
    for pid in children:
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                done.add(pid)
    return done


if __name__ == "__main__":
    os.environ.setdefault("DO_NOT_TRACK", "1")
    serve(Path(sys.argv[1]))
    # Ended cleanly (children reaped, socket and scratch folder removed): the interpreter's
    # teardown of dbt's modules, which the owner waits for at its own exit, is skipped.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
