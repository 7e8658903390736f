"""lib/fork_server.py, the protocol the dbt server and `tsdg serve` share: a request runs in
a child with the client's folder, environment and standard output, and the client gets its
exit code; a refused request runs nothing, and the client gets the reason, even an empty
one (a length of 0 must not read as a pid)."""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from dagster_project.lib import fork_server

SERVER = """
import os, sys
from pathlib import Path
from dagster_project.lib import fork_server, server_sockets
path, stop = Path(sys.argv[1]), Path(sys.argv[2])

def run(request):
    print(f"in {os.getcwd()} with {os.environ.get('FORK_TEST')} as {request['argv']}", flush=True)
    return int(request["argv"][0])

def refuse(request):
    return request.get("refuse")

fork_server.serve(server_sockets.listen(path), run, "test", refuse=refuse,
                  keep_going=lambda: not stop.exists())
"""


@pytest.fixture
def server():
    folder = Path(tempfile.mkdtemp(prefix="tsdg-f"))  # short: a socket path's limit
    path, stop = folder / "test.sock", folder / "stop"
    process = subprocess.Popen([sys.executable, "-c", SERVER, str(path), str(stop)])
    deadline = time.monotonic() + 30
    while not path.exists():
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    yield path
    stop.touch()
    assert process.wait(timeout=10) == 0
    shutil.rmtree(folder, ignore_errors=True)


def test_a_request_runs_with_the_clients_folder_environment_and_output(server, tmp_path,
                                                                       capfd):
    body = {"argv": ["7"], "cwd": str(tmp_path), "env": {**os.environ, "FORK_TEST": "mine"}}
    assert fork_server.call(server, body, "test") == 7
    assert capfd.readouterr().out == f"in {tmp_path} with mine as ['7']\n"


@pytest.mark.parametrize("reason", ["not this one", ""])
def test_a_refused_request_runs_nothing_and_says_why(server, tmp_path, capfd, reason):
    body = {"argv": ["0"], "cwd": str(tmp_path), "env": dict(os.environ), "refuse": reason}
    assert fork_server.call(server, body, "test") == (reason or "refused")
    assert capfd.readouterr().out == ""


def test_no_server_no_answer(tmp_path):
    assert fork_server.call(tmp_path / "none.sock", {"argv": []}, "test") is None
