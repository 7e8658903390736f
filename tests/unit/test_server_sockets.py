"""How a process finds the helper server to use (dagster_project/lib/server_sockets.py):
the nearest listening one among itself and its ancestors — a step of `tsdg refresh
--workers` (a grandchild of the refresh, through the forkserver) finds the refresh's;
its own comes first; a socket a killed server left behind is passed over; a folder others
can write to is not used at all."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from dagster_project.lib import server_sockets

# A child that starts a grandchild; the grandchild prints what `nearest` finds. With
# "own", the child first listens on a socket of its own.
CHILD = """
import os, socket, subprocess, sys, tempfile
tempfile.tempdir = sys.argv[1]
from dagster_project.lib import server_sockets
listener = None
if sys.argv[2] == "own":
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(server_sockets.socket_path(os.getpid(), "probe")))
    listener.listen(8)
grandchild = ("import sys, tempfile; tempfile.tempdir = sys.argv[1]\\n"
              "from dagster_project.lib import server_sockets\\n"
              "print(server_sockets.nearest('probe'))")
sys.stdout.write(subprocess.run([sys.executable, "-c", grandchild, sys.argv[1]],
                                capture_output=True, text=True, check=True).stdout)
print(os.getpid())
"""


@pytest.fixture
def home(monkeypatch) -> Path:
    """A folder of servers of this test's own, at a short path (a socket's path is limited
    to about 100 bytes; pytest's folders are deeper)."""
    short = tempfile.mkdtemp(prefix="tsdg-t")
    monkeypatch.setattr(tempfile, "tempdir", short)
    folder = server_sockets.home()
    folder.mkdir(mode=0o700)
    yield folder
    shutil.rmtree(short, ignore_errors=True)


def _listening(path: Path) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen(8)
    return listener


def _found_by_grandchild(home: Path, own: bool) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", CHILD, str(home.parent),
                          "own" if own else "none"],
                         capture_output=True, text=True, check=True).stdout.split()
    return out[0], int(out[1])


def test_a_grandchild_finds_its_grandparents_server_and_its_parents_first(home):
    mine = server_sockets.socket_path(os.getpid(), "probe")
    with _listening(mine):
        found, _ = _found_by_grandchild(home, own=False)
        assert found == str(mine)
        found, child = _found_by_grandchild(home, own=True)
        assert found == str(server_sockets.socket_path(child, "probe"))  # the nearer one
        assert server_sockets.nearest("probe") == mine
        assert server_sockets.nearest("other-kind") is None


def test_a_socket_left_by_a_dead_server_is_passed_over(home):
    mine = server_sockets.socket_path(os.getpid(), "probe")
    _listening(mine).close()  # the file stays; nothing listens (a server killed -9)
    assert mine.exists()
    assert server_sockets.nearest("probe") is None
    found, _ = _found_by_grandchild(home, own=False)
    assert found == "None"


def test_a_folder_others_can_write_to_is_not_used(home):
    mine = server_sockets.socket_path(os.getpid(), "probe")
    with _listening(mine) as listener:
        home.chmod(0o777)
        assert server_sockets.nearest("probe") is None
        assert server_sockets.prepared(os.getpid(), "dbt") is None  # nor served
        listener.settimeout(0.3)
        with pytest.raises(TimeoutError):
            listener.accept()  # not even probed
        home.chmod(0o700)
        assert server_sockets.nearest("probe") == mine


def test_what_dead_owners_left_is_swept_when_a_server_starts(home):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (home / f"{dead}.dbt.sock").touch()
    (home / f"{dead}.dbt.parse123").mkdir()
    alive = home / f"{os.getpid()}.gx.sock"
    alive.touch()
    assert server_sockets.prepared(os.getpid(), "dbt") == \
        home / f"{os.getpid()}.dbt.sock"
    assert sorted(p.name for p in home.iterdir()) == [alive.name]  # the living owner's kept


def test_a_server_of_any_lineage_is_listed_if_it_listens_newest_first(home):
    # `tsdg serve` is no ancestor of the `tsdg refresh` it serves: listed by kind, any owner
    older = server_sockets.socket_path(1_000_001, "probe")
    newer = server_sockets.socket_path(1_000_002, "probe")
    dead = server_sockets.socket_path(1_000_003, "probe")
    with _listening(older), _listening(newer):
        _listening(dead).close()  # its file stays; nothing listens
        os.utime(older, (1, 1))
        assert server_sockets.listening("probe") == [newer, older]
        assert server_sockets.listening("other") == []
        home.chmod(0o777)
        assert server_sockets.listening("probe") == []  # nor from a folder others can write
        home.chmod(0o700)
