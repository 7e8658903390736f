"""A server that forks a child per request from a process that has already imported (and
prepared) what the request needs, and runs it there with the client's arguments, folder,
environment and standard streams: the dbt server (dbt_server.py: dbt imported, the project
parsed) and `tsdg serve` (refresh_server.py: a whole refresh imported).

The protocol, on a Unix socket in a folder that is this user's alone (server_sockets.py):
the client sends a word (the body's length) with its stdin, stdout and stderr as file
descriptors, then the body (JSON). The server answers a word: the child's pid, or, when it
refuses the request before forking, minus the length of its reason, then the reason. The
child answers the exit code as a last word. The client forwards SIGINT and SIGTERM to the
child; a child whose client goes away is interrupted.

Standard library only: `tsdg-dbt` and `tsdg refresh` import this module as clients and must
start in milliseconds.
"""

import atexit
import contextlib
import json
import os
import selectors
import signal
import socket
import struct
import sys
import threading
from collections.abc import Callable
from pathlib import Path

_WORD = struct.Struct("!q")


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _read_word(sock: socket.socket) -> int | None:
    data = _read_exactly(sock, _WORD.size)
    return None if data is None else _WORD.unpack(data)[0]


# --- the client ----------------------------------------------------------------------------

def call(path: Path, body: dict, name: str) -> int | str | None:
    """`body` run in a child of the server at `path`, on this process's standard streams:
    the child's exit code; a str, the server's reason for refusing it (nothing ran); None
    when no server took it (none listening, or it ended before forking: nothing ran)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
        data = json.dumps(body).encode()
        socket.send_fds(sock, [_WORD.pack(len(data))], [0, 1, 2])
        sock.sendall(data)
        child = _read_word(sock)
        if child is not None and child <= 0:  # a refusal (a pid is never 0 or negative)
            reason = _read_exactly(sock, -child)
            sock.close()
            return reason.decode() if reason is not None else None
    except OSError:
        child = None
    if child is None:
        sock.close()
        return None
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: os.kill(child, signum))
    code = _read_word(sock)
    if code is None:
        print(f"{name}: the process {child} ended without an exit code", file=sys.stderr)
        return 2
    return code


# --- the server ----------------------------------------------------------------------------

def _receive(conn: socket.socket) -> tuple[dict, list[int]] | None:
    header, fds, _, _ = socket.recv_fds(conn, _WORD.size, 3)
    if len(header) != _WORD.size or len(fds) != 3:
        for fd in fds:
            os.close(fd)
        return None
    body = _read_exactly(conn, _WORD.unpack(header)[0])
    if body is None:
        for fd in fds:
            os.close(fd)
        return None
    return json.loads(body), fds


def _watch_client(conn: socket.socket) -> None:
    """If the client goes away (killed) before the child finishes, stop the child: interrupt
    it, then end the process if it does not stop."""
    def watch():
        with contextlib.suppress(OSError):
            while conn.recv(64):
                pass
        os.kill(os.getpid(), signal.SIGINT)
        threading.Event().wait(30)
        os._exit(2)

    threading.Thread(target=watch, daemon=True).start()


def _child(conn: socket.socket, request: dict, fds: list[int],
           run: Callable[[dict], int], name: str) -> None:
    """In the forked child: `run(request)` with the client's streams, folder and environment;
    the exit code back to the client; never returns."""
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
        code = run(request)
    except BaseException as error:  # noqa: BLE001 - the child must always answer
        with contextlib.suppress(Exception):
            print(f"{name} child: {type(error).__name__}: {error}", file=sys.stderr)
    finally:
        # The client closes its end once it has the code, and the watcher would interrupt
        # what is left of this (a KeyboardInterrupt between the answer and the exit).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        # End as the program's own process would before answering: its exit handlers close
        # what it opened (dbt-duckdb closes its database, which checkpoints it: a build left
        # with its data in the WAL would lose it when the file alone is moved; a refresh
        # stops the helpers it started). The server's own handlers have nothing to do in a
        # child: what they stop belongs to the server, which a child forgets at the fork
        # (dbt_server.py, quality/validate.py).
        with contextlib.suppress(Exception):
            atexit._run_exitfuncs()
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        with contextlib.suppress(OSError):
            conn.sendall(_WORD.pack(code))
        os._exit(code)


def _refused(conn: socket.socket, reason: str) -> None:
    data = reason.encode() or b"refused"  # a length of 0 would read as pid 0
    with contextlib.suppress(OSError):
        conn.sendall(_WORD.pack(-len(data)) + data)


def serve(listener: socket.socket, run: Callable[[dict], int], name: str, *,
          refuse: Callable[[dict], str | None] = lambda request: None,
          owner: object | None = None,
          keep_going: Callable[[], bool] = lambda: True,
          on_fork: Callable[[int, dict], None] = lambda pid, request: None,
          on_end: Callable[[int, int], None] = lambda pid, status: None) -> None:
    """Serve requests on `listener` until `owner` (a readable file: the process that started
    the server holds its other end) closes, or `keep_going()` (asked about once a second)
    says no. Each request `refuse` does not turn down runs `run` in a forked child. When
    `keep_going` ends it, the running children are waited for; when the owner goes (or an
    exception, a signal's, ends it), they are sent SIGTERM; either way they are reaped."""
    children: set[int] = set()
    finished = False
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    if owner is not None:
        selector.register(owner, selectors.EVENT_READ)
    try:
        while keep_going():
            for key, _ in selector.select(timeout=1.0):
                if key.fileobj is owner:
                    if not owner.buffer.read1(4096):
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
                reason = refuse(request)
                if reason is not None:
                    _refused(conn, reason)
                    conn.close()
                    for fd in fds:
                        os.close(fd)
                    continue
                sys.stdout.flush()  # what the server printed is not printed again by a child
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    # Whatever happens in the child (a signal between two statements), it
                    # ends here: unwound into the server's code, it would run the server's
                    # clean-up and remove the server's socket.
                    try:
                        listener.close()
                        conn.settimeout(None)
                        _child(conn, request, fds, run, name)
                    finally:
                        os._exit(2)
                children.add(pid)
                on_fork(pid, request)
                conn.close()
                for fd in fds:
                    os.close(fd)
            _reap(children, on_end)
        finished = True
    finally:
        for pid in children if not finished else ():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                on_end(pid, os.waitpid(pid, 0)[1])


def _reap(children: set[int], on_end: Callable[[int, int], None]) -> None:
    for pid in list(children):
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # reaped already: nothing to report
            children.discard(pid)
            continue
        if done == pid:
            children.discard(pid)
            on_end(pid, status)
