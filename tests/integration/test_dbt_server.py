"""dbt forked from a server that imported dbt and parsed the project once
(dagster_project/dbt_server.py): the same answers and exit codes as dbt started on its
own, the server's parse used only when it is the invocation's own, and the server gone
with the process that started it."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import duckdb
import pytest

from dagster_project import dbt_server
from dagster_project.config import DBT_PROJECT_DIR
from dagster_project.dbt_manifest import BUILD_VARS, DBT_IN_BUILD
from dagster_project.lib import server_sockets

pytestmark = pytest.mark.tools

LS = ["ls", "--resource-type", "model", "--output", "name", "--quiet"]
# A parent process that starts (or not) a dbt server, then runs tsdg-dbt once per call
# given (a target folder and arguments each), and prints each call's exit code and
# output, and whether its server still listened after each call; tsdg-dbt looks for its
# parent's server (the nearest of its lineage). One server serves all of a parent's calls,
# as one serves all of a run's dbt invocations.
PARENT = f"""
import json, os, subprocess, sys
from dagster_project import dbt_server
from dagster_project.lib import server_sockets
if sys.argv[1] == "server":
    dbt_server.start()
answers = []
for target, args in json.loads(sys.argv[2]):
    done = subprocess.run([{DBT_IN_BUILD!r}, *args], capture_output=True, text=True,
                          env={{**os.environ, "DBT_TARGET_PATH": target}})
    listening = server_sockets.nearest("dbt") == dbt_server.socket_path(os.getpid())
    answers.append((done.returncode, done.stdout, done.stderr[-2000:], listening))
print(json.dumps(answers))
"""


class Answer(NamedTuple):
    code: int
    out: str
    err: str  # its tail
    listening: bool  # the parent's server, after the call
    target: Path


def _dbt(tmp_path: Path, server: bool, calls: dict[str, list[str]]) -> dict[str, Answer]:
    """Each call's answer, by name."""
    targets = {name: tmp_path / ("server" if server else "alone") / name / "target"
               for name in calls}
    for target in targets.values():
        target.mkdir(parents=True)
    # A folder of servers of its own (lib/server_sockets.py): tsdg-dbt uses the nearest
    # server of its lineage, and this test process may have one (its refreshes start it).
    servers = tempfile.mkdtemp(prefix="tsdg-t")
    env = {**os.environ, "DBT_PROJECT_DIR": str(DBT_PROJECT_DIR),
           "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR), "DO_NOT_TRACK": "1", "TMPDIR": servers}
    try:
        done = subprocess.run(
            [sys.executable, "-c", PARENT, "server" if server else "alone",
             json.dumps([(str(targets[name]), args) for name, args in calls.items()])],
            env=env, capture_output=True, text=True, timeout=300)
    finally:
        shutil.rmtree(servers, ignore_errors=True)
    assert done.returncode == 0, done.stderr[-2000:]
    answers = json.loads(done.stdout.splitlines()[-1])
    return {name: Answer(*answer, targets[name])
            for name, answer in zip(calls, answers, strict=True)}


BUILDS = ["--vars", json.dumps(BUILD_VARS)]
CALLS = {"builds' vars": [*LS, *BUILDS],
         "other vars": [*LS, "--vars", '{"tsdg_database": "x.duckdb"}'],
         "no such command": ["no-such-command"],
         "no such option": ["ls", "--no-such-option"]}


@pytest.fixture(scope="module")
def answers(tmp_path_factory) -> tuple[dict, dict]:
    """The same calls to dbt alone and to dbt forked from one server."""
    tmp_path = tmp_path_factory.mktemp("dbt_server")
    alone = _dbt(tmp_path, False, {k: v for k, v in CALLS.items() if k != "other vars"})
    return alone, _dbt(tmp_path, True, CALLS)


def test_forked_dbt_answers_as_dbt_alone_and_parses_only_when_the_parse_is_not_its_own(answers):
    alone, forked = answers
    for answer in (forked["builds' vars"], forked["other vars"], alone["builds' vars"]):
        assert answer.code == 0, answer.err
    models = sorted(alone["builds' vars"].out.split())
    assert len(models) == 20 and "indicator_values" in models
    assert sorted(forked["builds' vars"].out.split()) == models == sorted(forked["other vars"].out.split())
    # the builds' vars: the server's parse, no parse of its own (dbt writes its parse state
    # only when it parses); other vars: a parse of its own, as dbt alone would
    assert not (forked["builds' vars"].target / "partial_parse.msgpack").exists()
    assert (forked["other vars"].target / "partial_parse.msgpack").exists()
    assert (alone["builds' vars"].target / "partial_parse.msgpack").exists()


@pytest.mark.parametrize("name", ["no such command", "no such option"])
def test_forked_dbt_exits_with_dbts_own_code(answers, name):
    alone, forked = answers
    assert alone[name].code == forked[name].code == 2


def test_the_server_outlives_every_call_it_forks(answers):
    """A child that ended by an exception (a SIGINT from its watcher as the client closed)
    once unwound into the server's loop and removed the server's socket: the next calls ran
    dbt alone, seconds each, and a step of --workers started a server of its own."""
    alone, forked = answers
    assert all(answer.listening for answer in forked.values())
    assert not any(answer.listening for answer in alone.values())


def test_a_forked_build_has_closed_its_database_when_it_answers(tmp_path, tiny_refreshed):
    """The client returns only once the child has ended as dbt would: its database closed
    (checkpointed), so that the build's file alone holds what dbt wrote."""
    database = tmp_path / "server" / "build" / "tsdg.duckdb"  # the call's folder (_dbt)
    database.parent.mkdir(parents=True)
    shutil.copy2(tiny_refreshed.working_database, database)
    with duckdb.connect(str(database)) as con:
        expected = con.execute("select count(*) from staging.stg_tallies__monthly").fetchone()
        con.execute("drop table staging.stg_tallies__monthly")
    build = _dbt(tmp_path, True, {"build": ["run", "--select", "stg_tallies__monthly", *BUILDS]})
    assert build["build"].code == 0, build["build"].out[-2000:]
    assert not Path(f"{database}.wal").exists()
    with duckdb.connect(str(database), read_only=True) as con:
        assert con.execute("select count(*) from staging.stg_tallies__monthly").fetchone() \
            == expected != (0,)


class _Manifest:
    env_vars = {"TSDG_LAKE": "/lake"}


def test_the_parse_serves_only_the_same_project_profile_target_vars_and_environment():
    env = {"DBT_PROJECT_DIR": str(DBT_PROJECT_DIR), "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR),
           "TSDG_LAKE": "/lake"}
    argv = ["parse", "--vars", json.dumps(BUILD_VARS)]
    parsed = dbt_server._Parsed(_Manifest(), env, argv, newest=float("inf"))
    build = ["build", "--select", "fqn:*", "--vars", json.dumps(BUILD_VARS)]
    assert parsed.serves(build, env)
    assert parsed.serves(["build", "--vars", json.dumps(BUILD_VARS, indent=1)], env)  # same vars
    assert not parsed.serves(["build"], env)
    assert not parsed.serves(["build", "--vars", '{"tsdg_database": "x"}'], env)
    assert not parsed.serves([*build, "--target", "spark"], env)
    assert not parsed.serves([*build, "--profiles-dir", "/elsewhere"], env)
    assert not parsed.serves(build, {**env, "DBT_PROJECT_DIR": "/elsewhere"})
    assert not parsed.serves(build, {**env, "TSDG_LAKE": "/another/lake"})  # read at parse
    # a model, macro or config file changed after the parse
    stale = dbt_server._Parsed(_Manifest(), env, argv, newest=0.0)
    assert not stale.serves(build, env)


def test_the_server_ends_with_the_process_that_started_it(tmp_path):
    owner = subprocess.Popen(
        [sys.executable, "-c", "import os, time\nfrom dagster_project import dbt_server\n"
         "dbt_server.start()\nprint(dbt_server._SERVER.pid, flush=True)\ntime.sleep(600)"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "DO_NOT_TRACK": "1"})
    server = int(owner.stdout.readline())
    path = dbt_server.socket_path(owner.pid)
    assert path.exists()
    os.kill(owner.pid, signal.SIGKILL)
    owner.wait()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and path.exists():
        time.sleep(0.2)
    assert not path.exists()  # the server saw its owner go, and removed its socket
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and Path(f"/proc/{server}").exists():
        time.sleep(0.2)
    assert not Path(f"/proc/{server}").exists() or \
        Path(f"/proc/{server}/stat").read_text().split()[2] == "Z"


def test_a_server_folder_open_to_others_is_neither_served_nor_used(tmp_path, monkeypatch):
    """Whoever can connect runs dbt as this user, and the client hands over its environment:
    a folder of sockets that others can write to is not trusted, by server or client."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    home = server_sockets.home()
    home.mkdir()
    home.chmod(0o777)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(dbt_server.socket_path(os.getppid())))  # a server, as far as names go
    listener.listen(1)
    try:
        assert not server_sockets.private(home)
        assert dbt_server.run_via_server(["ls"]) is None  # never connected
        listener.settimeout(0.5)
        with pytest.raises(TimeoutError):
            listener.accept()
        home.chmod(0o700)
        assert server_sockets.private(home)
    finally:
        listener.close()
