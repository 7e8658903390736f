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
import time
from pathlib import Path

import duckdb
import pytest

from dagster_project import dbt_server
from dagster_project.config import DBT_PROJECT_DIR
from dagster_project.dbt_manifest import BUILD_VARS, DBT_IN_BUILD

LS = ["ls", "--resource-type", "model", "--output", "name", "--quiet"]
# A parent process that starts (or not) a dbt server, then runs tsdg-dbt with the
# arguments given and exits with its code; tsdg-dbt looks for its parent's server.
PARENT = f"""
import subprocess, sys
from dagster_project import dbt_server
if sys.argv[1] == "server":
    dbt_server.start()
sys.exit(subprocess.run([{DBT_IN_BUILD!r}, *sys.argv[2:]]).returncode)
"""


def _dbt(tmp_path: Path, server: bool, args: list[str], name: str):
    target = tmp_path / name / "target"
    target.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DBT_TARGET_PATH": str(target), "DBT_PROJECT_DIR": str(DBT_PROJECT_DIR),
           "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR), "DO_NOT_TRACK": "1"}
    done = subprocess.run([sys.executable, "-c", PARENT, "server" if server else "alone", *args],
                          env=env, capture_output=True, text=True, timeout=300)
    return done, target


def test_forked_dbt_answers_as_dbt_alone_and_parses_only_when_the_parse_is_not_its_own(tmp_path):
    builds = ["--vars", json.dumps(BUILD_VARS)]
    alone, _ = _dbt(tmp_path, False, [*LS, *builds], "alone")
    forked, forked_target = _dbt(tmp_path, True, [*LS, *builds], "forked")
    other, other_target = _dbt(tmp_path, True, [*LS, "--vars", '{"tsdg_database": "x.duckdb"}'],
                               "other_vars")
    assert alone.returncode == forked.returncode == other.returncode == 0, forked.stderr[-2000:]
    models = sorted(alone.stdout.split())
    assert len(models) == 20 and "indicator_values" in models
    assert sorted(forked.stdout.split()) == models == sorted(other.stdout.split())
    # the builds' vars: the server's parse, no parse of its own (dbt writes its parse state
    # only when it parses); other vars: a parse of its own, as dbt alone would
    assert not (forked_target / "partial_parse.msgpack").exists()
    assert (other_target / "partial_parse.msgpack").exists()


@pytest.mark.parametrize("args", [["no-such-command"], ["ls", "--no-such-option"]])
def test_forked_dbt_exits_with_dbts_own_code(tmp_path, args):
    alone, _ = _dbt(tmp_path, False, args, "alone")
    forked, _ = _dbt(tmp_path, True, args, "forked")
    assert alone.returncode == forked.returncode == 2


def test_a_forked_build_has_closed_its_database_when_it_answers(tmp_path, tiny_refreshed):
    """The client returns only once the child has ended as dbt would: its database closed
    (checkpointed), so that the build's file alone holds what dbt wrote."""
    database = tmp_path / "build" / "tsdg.duckdb"
    database.parent.mkdir()
    shutil.copy2(tiny_refreshed.working_database, database)
    with duckdb.connect(str(database)) as con:
        expected = con.execute("select count(*) from staging.stg_tallies__monthly").fetchone()
        con.execute("drop table staging.stg_tallies__monthly")
    done, _ = _dbt(tmp_path, True, ["run", "--select", "stg_tallies__monthly",
                                    "--vars", json.dumps(BUILD_VARS)], "build")
    assert done.returncode == 0, done.stdout[-2000:]
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
    home = dbt_server._home()
    home.mkdir()
    home.chmod(0o777)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(dbt_server.socket_path(os.getppid())))  # a server, as far as names go
    listener.listen(1)
    try:
        assert not dbt_server._private(home)
        assert dbt_server.run_via_server(["ls"]) is None  # never connected
        listener.settimeout(0.5)
        with pytest.raises(TimeoutError):
            listener.accept()
        home.chmod(0o700)
        assert dbt_server._private(home)
    finally:
        listener.close()
