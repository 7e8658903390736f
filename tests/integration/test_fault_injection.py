"""`kill -9` at random points of a refresh (in one process, and with `--workers 2`), many
times over: `latest` always names a whole
release — the previous one byte for byte, or (when the kill came after the switch) a
complete new one — the working warehouse always opens, and the next refresh recovers.

Each attempt is a backfill of one quarter, so every attempt ingests, builds, validates and
publishes; each starts from whatever the killed one before it left (orphaned builds, a
stale WAL, a held lock file), which is exactly what recovery must handle."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import duckdb
import pytest

from dagster_project.refresh import refresh

pytestmark = pytest.mark.fault
KILLS = int(os.environ.get("TSDG_FAULT_KILLS", "12"))


def _is_whole(release) -> bool:
    manifest = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
    with duckdb.connect(str(release / "release.duckdb"), read_only=True) as con:
        n = con.sql("select count(*) from marts.indicator_values").fetchall()[0][0]
    return n == manifest["row_counts"]["marts.indicator_values"] > 0


def _timed(command, env) -> float:
    started = time.monotonic()
    result = subprocess.run(command, env=env, capture_output=True)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    return time.monotonic() - started


# In one process, and with the steps as processes of their own (`--workers 2`: the launcher
# holds the lock, steps join one build; the kill takes the whole group). Two tests, half the
# kills each: each on a warehouse of its own, side by side on the suite's two workers.
@pytest.mark.parametrize("workers", [1, 2], ids=["one-process", "workers-2"])
def test_kill_9_at_random_points_never_leaves_a_broken_release(copies, release_digest, workers):
    rng = random.Random(20261130 + workers)
    env = {**os.environ, "TSDG_SOURCES_DIR": str(copies.sources_dir),
           "TSDG_WAREHOUSE_DIR": str(copies.warehouse_dir)}
    command = [sys.executable, "-m", "dagster_project.cli", "refresh", "--quarters", "2024Q2",
               *(["--workers", str(workers)] if workers > 1 else [])]
    # One whole refresh first, timed: the kills are spread over that long, however fast
    # this machine (and the refresh) is. Stratified: the i-th kill falls at a random point
    # of the i-th slice of the run, so every stage is hit.
    longest = _timed(command, env)
    kills = KILLS // 2
    plan = [longest * (i + rng.random()) / kills for i in range(kills)]
    outcomes = []
    for attempt, delay in enumerate(plan):
        latest_before = (copies.releases_dir / "latest").resolve()
        digest_before = release_digest(copies)
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            code = process.wait(timeout=delay)
            outcomes.append(("finished", round(delay, 1)))
            assert code == 0, f"attempt {attempt} exited {code} without being killed"
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the refresh and its children
            process.wait()
            outcomes.append(("killed", round(delay, 1)))
        time.sleep(0.2)
        latest = (copies.releases_dir / "latest").resolve()
        if latest == latest_before:
            assert release_digest(copies) == digest_before, f"attempt {attempt}: {outcomes[-1]}"
        else:
            assert _is_whole(latest), f"attempt {attempt}: {outcomes[-1]}"
        with duckdb.connect(str(copies.working_database), read_only=True) as con:
            assert con.sql("select count(*) from raw.landed_files").fetchall()[0][0] > 900
    assert sum(kind == "killed" for kind, _ in outcomes) >= kills // 2, outcomes
    lines = []
    assert refresh(copies, progress=lines.append, quarters=["2024Q2"]) == 0, "\n".join(lines)
    assert _is_whole((copies.releases_dir / "latest").resolve())
    # Nothing a killed run left is still in the way: no build, no lock holder.
    assert not [p for p in (copies.warehouse_dir / "builds").iterdir()]
