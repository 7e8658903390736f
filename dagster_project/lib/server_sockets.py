"""Where a process's helper servers listen, and how a process finds the one to use.

A server (dbt_server.py, quality/gx_server.py) listens on a Unix socket named for the
process that started it (its owner) and its kind: `<owner pid>.<kind>.sock`, in a folder
that is this user's alone. A process uses the nearest server among itself and its
ancestors: `tsdg-dbt`, started by a refresh, is that refresh's child; a step of
`tsdg refresh --workers` is a child of the forkserver the refresh started, so its dbt and GX
run on the refresh's servers instead of paying dbt's start and GX's import again (seconds
of CPU each, per step process).

Standard library only: the dbt server's client (`tsdg-dbt`) imports this module and must
start in milliseconds.
"""

import contextlib
import os
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

# How far up the process tree to look: tsdg-dbt → step → forkserver → refresh is three.
_MAX_HOPS = 8


def home() -> Path:
    return Path(tempfile.gettempdir()) / f"tsdg-servers-{os.getuid()}"


def private(folder: Path) -> bool:
    """Whoever can connect runs dbt or GX with arguments (and, dbt, an environment) of their
    choosing: the folder must be this user's alone, or it is neither served nor used."""
    try:
        info = folder.lstat()
    except FileNotFoundError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() \
        and not info.st_mode & 0o077


def socket_path(owner_pid: int, kind: str) -> Path:
    """The socket of the `kind` server started by process `owner_pid`."""
    return home() / f"{owner_pid}.{kind}.sock"


def prepared(owner_pid: int, kind: str) -> Path | None:
    """The socket a new server of `owner_pid` binds, in a private folder cleared of what dead
    owners left; None if the folder is not private or the path too long for AF_UNIX (the
    caller then does without the server)."""
    folder = home()
    folder.mkdir(mode=0o700, exist_ok=True)
    if not private(folder):  # made by someone else, or open to others
        return None
    _sweep(folder)
    path = socket_path(owner_pid, kind)
    return path if len(os.fsencode(path)) < 100 else None


def listen(path: Path) -> socket.socket:
    """A server's listening socket at `path` (one a killed server of a reused pid left is
    replaced). Bound before the server imports dbt or GX: clients that come meanwhile wait
    in the backlog."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(8)
    return listener


def _sweep(folder: Path) -> None:
    """Remove what servers of processes that no longer exist left (a kill -9 leaves its
    socket and scratch folder): <owner pid>.<kind>.sock and <owner pid>.<kind>.parse…/."""
    for entry in folder.iterdir():
        owner = entry.name.split(".")[0]
        if not owner.isdigit():
            continue
        try:
            os.kill(int(owner), 0)
        except ProcessLookupError:
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()
        except PermissionError:  # the pid now another user's process: alive, left alone
            pass


def _parent_of(pid: int) -> int | None:
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return os.getppid() if pid == os.getpid() else None  # no /proc: the parent only
    # "pid (command) state ppid …"; the command may hold spaces and parentheses
    return int(stat_line.rsplit(")", 1)[1].split()[1])


def lineage() -> Iterator[int]:
    """This process, then its parent, its parent's parent, … (up to _MAX_HOPS)."""
    pid: int | None = os.getpid()
    for _ in range(_MAX_HOPS + 1):
        if pid is None or pid <= 1:
            return
        yield pid
        pid = _parent_of(pid)


def nearest(kind: str) -> Path | None:
    """The socket of the nearest `kind` server in this process's lineage that is listening,
    if any (a server killed with its owner's group leaves its socket behind)."""
    if not private(home()):
        return None
    for pid in lineage():
        path = socket_path(pid, kind)
        if path.exists() and _listening(path):
            return path
    return None


def listening(kind: str) -> list[Path]:
    """The sockets of `kind` servers of any owner of this user that are listening, newest
    first: a server that serves every process of the user (`tsdg serve`), not a lineage."""
    if not private(home()):
        return []
    found = []
    for path in home().glob(f"*.{kind}.sock"):
        with contextlib.suppress(FileNotFoundError):
            found.append((path.stat().st_mtime, path))
    return [path for _, path in sorted(found, reverse=True) if _listening(path)]


def _listening(path: Path) -> bool:
    """Connected and closed at once: the server reads an empty request and goes on."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(2)  # a full backlog would make connect wait
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True
