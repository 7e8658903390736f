"""`tsdg refresh --workers N`: the refresh job on Dagster's multiprocess executor, the
families' ingest steps in processes of their own, side by side, each loading into its own
workspace and merging into the run's one build; write-audit-publish as in one process.
The runs are in the `distributed` tier (make test); the joining rules run in make check."""

import contextlib
import os
import threading
from pathlib import Path

import duckdb
import pytest

from dagster_project.lib.source_contract import door
from dagster_project.refresh import instance, quarter_range, refresh
from dagster_project.warehouse_lock import refresh_lock
from dagster_project.write_audit_publish import Build

# Lineage that names where or when a copy was loaded, not what it holds.
VOLATILE = {"source_file", "run_id", "loaded_at", "quarantine_report"}


def _raw_rows(database) -> dict[str, list[tuple]]:
    with duckdb.connect(str(database), read_only=True) as con:
        tables = [r[0] for r in con.execute("select table_name from information_schema.tables "
                                            "where table_schema = 'raw' order by 1").fetchall()]
        rows = {}
        for table in tables:
            columns = [r[0] for r in con.execute(
                "select column_name from information_schema.columns where table_schema = 'raw' "
                "and table_name = ? order by ordinal_position", [table]).fetchall()
                if r[0] not in VOLATILE]
            rows[table] = con.execute(f"select {', '.join(columns)} from raw.{table} "
                                      "order by all").fetchall()
    return rows


def _release_files(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in [*sorted((folder / "data").glob("*.csv")),
                                             folder / "indicators.csv"]}


def _step_spans(s, run_id) -> dict[str, tuple[float, float, int]]:
    """step key → (started, ended, pid of the process that ran it), from the event log."""
    spans = {}
    for entry in instance(s).all_logs(run_id):
        event = entry.dagster_event
        if event is None or entry.step_key is None:
            continue
        if event.event_type_value == "STEP_START":
            spans[entry.step_key] = (entry.timestamp, None, event.pid)
        elif event.event_type_value == "STEP_SUCCESS":
            start, _, pid = spans[entry.step_key]
            spans[entry.step_key] = (start, entry.timestamp, pid)
    return spans


SERVERS = ("dagster_project.dbt_server", "dagster_project.quality.gx_server",
           "multiprocessing.forkserver")


def _processes() -> dict[int, tuple[int, str]]:
    """pid → (parent pid, command line) of every process now."""
    table = {}
    for proc in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            if proc.name.isdigit():
                parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
                table[int(proc.name)] = (parent, (proc / "cmdline").read_bytes().decode())
    return table


def _descends(pid: int, ancestor: int, table) -> bool:
    while pid in table and pid > 1:
        pid = table[pid][0]
        if pid == ancestor:
            return True
    return False


@contextlib.contextmanager
def _servers_seen():
    """(pid, parent pid, which) of every dbt server, GX server and forkserver among this
    process's descendants while the block ran, from /proc every 50 ms (each lives seconds:
    it imports dbt, GX or our definitions). What a server forks (a dbt or GX child, a step)
    carries its command line; a process whose parent is a server of the same kind is such
    a child and not counted."""
    seen, stop = set(), threading.Event()

    def watch():
        while not stop.wait(0.05):
            table = _processes()
            for pid, (parent, command) in table.items():
                which = next((k for k in SERVERS if k in command), None)
                if which and which not in table.get(parent, (0, ""))[1] \
                        and _descends(pid, os.getpid(), table):
                    seen.add((pid, parent, which))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield seen
    finally:
        stop.set()
        watcher.join()


@pytest.mark.distributed
def test_two_workers_ingest_side_by_side_and_publish_the_same_release(copies):
    before_rows = _raw_rows(copies.working_database)
    before_release = _release_files((copies.releases_dir / "latest").resolve())
    lines = []
    with _servers_seen() as servers:
        code = refresh(copies, progress=lines.append,
                       quarters=quarter_range("2024Q1..2024Q4"), workers=2)
    output = "\n".join(lines)
    assert code == 0, output
    run_id = next(line.split()[1].rstrip(":") for line in lines if line.startswith("run "))

    spans = _step_spans(copies, run_id)
    ingest = {k: v for k, v in spans.items() if k.startswith("raw__")}
    assert len(ingest) == 5, spans
    # Every step in a process of its own, none in the launcher's.
    pids = {pid for _, _, pid in spans.values()}
    assert len(pids) == len(spans) and os.getpid() not in pids
    # Two steps ran at the same moment (max_concurrent 2), and never three.
    edges = sorted([(start, 1) for start, _, _ in spans.values()]
                   + [(end, -1) for _, end, _ in spans.values()], key=lambda e: (e[0], e[1]))
    running, most = 0, 0
    for _, delta in edges:
        running += delta
        most = max(most, running)
    assert most == 2, spans
    # The steps' dbt and GX ran on the launcher's servers (lib/server_sockets.py), and the
    # steps were forked from one forkserver, the launcher's: no step process started a
    # server of its own (each would import dbt or GX again).
    assert {which for _, _, which in servers} == set(SERVERS), servers
    assert {parent for _, parent, _ in servers} == {os.getpid()}, servers
    assert len({pid for pid, _, which in servers if which == SERVERS[2]}) == 1, servers
    # The person-level families (the long steps) were started first.
    person_level = {f"raw__{f.name}" for f in door().families.values() if f.person_level}
    assert set(sorted(spans, key=lambda k: spans[k][0])[:len(person_level)]) == person_level

    # The merge replaced each re-ingested file's rows: every raw row as before, none twice,
    # every record as before (lineage that names the copy or the run aside).
    after_rows = _raw_rows(copies.working_database)
    assert after_rows.keys() == before_rows.keys()
    for table, rows in before_rows.items():
        assert after_rows[table] == rows, table
    latest = (copies.releases_dir / "latest").resolve()
    assert _release_files(latest) == before_release
    # No build, workspace or lock left behind; the lock is free again.
    assert not list((copies.warehouse_dir / "builds").iterdir())
    with refresh_lock(copies):
        pass


@pytest.mark.distributed
def test_a_blocked_run_with_workers_publishes_nothing_and_keeps_its_build(copies,
                                                                         release_digest):
    before = release_digest(copies)
    with duckdb.connect(str(copies.working_database)) as con:
        con.execute("""insert into raw.labour_insurance by name
                       select * replace ('99999' as county_code) from raw.labour_insurance
                       where period_month = '2024-04-01' and county_code = '63000'""")
    lines = []
    code = refresh(copies, progress=lines.append, quarters=["2024Q3"], workers=2)
    output = "\n".join(lines)
    assert code == 1, output
    assert "county_code in counties.csv" in output
    assert "publication blocked" in output
    assert release_digest(copies) == before
    failed = list((copies.warehouse_dir / "failed").iterdir())
    assert len(failed) == 1 and (failed[0] / "validation.html").exists()
    assert "not published" in (failed[0] / "REASON.txt").read_text(encoding="utf-8")
    assert not list((copies.warehouse_dir / "builds").iterdir())
    with refresh_lock(copies):
        pass


@pytest.mark.distributed
def test_a_busy_warehouse_refuses_a_run_with_workers(copies):
    lines = []
    with refresh_lock(copies):
        code = refresh(copies, progress=lines.append, quarters=["2024Q3"], workers=2)
    assert code == 3
    assert "another refresh is running" in "\n".join(lines)
    assert not (copies.warehouse_dir / "builds").exists() or not list(
        (copies.warehouse_dir / "builds").iterdir())


def test_steps_join_the_launchers_build_and_refuse_without_it(copies):
    # A step of a shared-build run with no launcher holding the lock writes nothing.
    with pytest.raises(RuntimeError, match="found the writer lock free"):
        Build(copies, "run-a", print, owner=False)
    assert not (copies.warehouse_dir / "builds" / "run-a").exists()
    with refresh_lock(copies):
        first = Build(copies, "run-a", print, owner=False)
        copied = first.settings.database.stat()
        second = Build(copies, "run-a", print, owner=False)  # another step: joins, no copy
        assert second.settings.database == first.settings.database
        assert second.settings.database.stat().st_ino == copied.st_ino
        assert second.settings.database.stat().st_mtime_ns == copied.st_mtime_ns
        assert first.close() is None and second.close() is None  # the launcher's to retire
        assert first.dir.exists()
