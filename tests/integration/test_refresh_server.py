"""`tsdg serve` (dagster_project/refresh_server.py): a resubmitted file refreshed in a
process forked from the server publishes what a refresh in its own process published; a
refresh the server cannot take runs in its own process and says why; `--no-serve` is not
served; SIGTERM ends the server, its dbt and GX servers and its socket."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pytest

pytestmark = pytest.mark.tools

TSDG = [sys.executable, "-m", "dagster_project.cli"]


def _values(releases: Path) -> list[tuple]:
    latest = (releases / "latest").resolve()
    with duckdb.connect(str(latest / "release.duckdb"), read_only=True) as con:
        return con.sql("select * from marts.indicator_values order by all").fetchall()


def _children(pid: int) -> dict[int, str]:
    """The processes whose parent is `pid`, with their command lines."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found[int(entry.name)] = command
    return found


def _refresh(env: dict, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([*TSDG, "refresh", *args], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_a_served_resubmission_publishes_what_a_refresh_of_its_own_did(copies, tmp_path):
    short = tempfile.mkdtemp(prefix="tsdg-t")  # a servers' folder of its own, short enough
    env = {**os.environ, "TMPDIR": short, "TSDG_SOURCES_DIR": str(copies.sources_dir),
           "TSDG_WAREHOUSE_DIR": str(copies.warehouse_dir)}
    before = _values(copies.releases_dir)
    first_release = (copies.releases_dir / "latest").resolve()
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        server = subprocess.Popen([*TSDG, "serve"], env=env, stdout=out,
                                  stderr=subprocess.STDOUT)
    servers = {}
    try:
        deadline = time.monotonic() + 300
        while "serving `tsdg refresh`" not in log.read_text():
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        servers = _children(server.pid)
        kinds = sorted("dbt" if "dbt_server" in c else "gx" if "gx_server" in c else c
                       for c in servers.values())
        assert kinds == ["dbt", "gx"]

        county = sorted((copies.sources_dir / "county_submissions").glob("*.csv"))[0]
        county.write_bytes(county.read_bytes() + b"\n")  # new bytes, the same figures
        served = _refresh(env)
        said = served.stdout + served.stderr
        assert f"forked from tsdg serve (pid {server.pid})" in said
        assert f"resubmissions: {county.name}" in said
        latest = (copies.releases_dir / "latest").resolve()
        assert latest != first_release
        assert _values(copies.releases_dir) == before
        deadline = time.monotonic() + 10  # the server reaps its child once a second
        while " ended: exit 0 in " not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        # its dbt and GX were the server's: it started none, and the server no more
        assert sorted(_children(server.pid)) == sorted(servers)

        # a refresh the server cannot take: its own process, and why (names, not values)
        other = _refresh({**env, "TSDG_INGEST_MEMORY_LIMIT": "900MB"})
        assert (f"tsdg serve ({server.pid}) cannot take this refresh: its environment "
                "differs in TSDG_INGEST_MEMORY_LIMIT; refreshing in this process") in other.stdout
        assert "forked from tsdg serve" not in other.stdout
        assert "900MB" not in other.stdout
        assert "no landed file changed since the last refresh" in other.stdout

        alone = _refresh(env, "--no-serve")
        assert "tsdg serve" not in alone.stdout
        assert "no landed file changed since the last refresh" in alone.stdout
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=120)
        shutil.rmtree(short, ignore_errors=True)
    assert code == 0, log.read_text()
    assert log.read_text().rstrip().endswith("ended")
    assert not [pid for pid in servers if Path(f"/proc/{pid}").exists()]
