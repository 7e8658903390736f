"""Operating the warehouse from Dagster: the quarterly schedule, the landing sensor, a
backfill of exactly two quarters, one writer at a time and readers that only ever see
whole releases."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import yaml

from dagster_project import dbt_server
from dagster_project.config import PROJECT_ROOT, settings
from dagster_project.defs.operations.jobs import DOWNSTREAM_KEYS
from dagster_project.defs.operations.schedules import quarterly_refresh_schedule
from dagster_project.defs.operations.sensors import landing_sensor
from dagster_project.defs.resources import WarehouseResource
from dagster_project.refresh import refresh
from dagster_project.warehouse_lock import refresh_lock

TAIPEI = ZoneInfo("Asia/Taipei")


def test_the_schedule_runs_quarterly_in_taipei_time_for_the_newest_closed_quarter():
    assert quarterly_refresh_schedule.cron_schedule == "0 6 20 1,4,7,10 *"
    assert quarterly_refresh_schedule.execution_timezone == "Asia/Taipei"
    for tick, quarter in ((datetime(2026, 1, 20, 6, tzinfo=TAIPEI), "2025Q4"),
                          (datetime(2026, 4, 20, 6, tzinfo=TAIPEI), "2026Q1"),
                          (datetime(2026, 10, 20, 6, tzinfo=TAIPEI), "2026Q3")):
        context = dg.build_schedule_context(scheduled_execution_time=tick)
        request = quarterly_refresh_schedule(context)
        assert request.partition_key == quarter
    assert quarterly_refresh_schedule.job_name == "quarterly_refresh"


def _tick(landing, warehouse, cursor=None):
    resource = WarehouseResource(sources_dir=str(landing), warehouse_dir=str(warehouse))
    with dg.build_sensor_context(cursor=cursor, resources={"warehouse": resource}) as context:
        result = landing_sensor(context)
    return result.run_requests, result.cursor


def _selection(request):
    return sorted("/".join(k.path) for k in request.asset_selection)


def _range(request):
    return (request.tags["dagster/asset_partition_range_start"],
            request.tags["dagster/asset_partition_range_end"])


def test_the_landing_sensor_requests_exactly_the_new_partitions_once(tiny_sample, tmp_path):
    sources, _ = tiny_sample
    landing = tmp_path / "landing"
    for family, name in (("county_submissions", "63000_113Q2"), ("county_submissions", "65000_113Q2"),
                         ("labour_insurance", "bli_11308"), ("training_rosters", "roster_113Q3_T")):
        (landing / family).mkdir(parents=True, exist_ok=True)
        for path in (sources / family).glob(f"{name}.*"):
            shutil.copy2(path, landing / family / path.name)
    requests, cursor = _tick(landing, tmp_path / "warehouse")
    # one run (one build, one release) over the range of the new quarters
    assert len(requests) == 1
    assert _range(requests[0]) == ("2024Q2", "2024Q3")
    downstream = sorted("/".join(k.path) for k in DOWNSTREAM_KEYS)
    assert _selection(requests[0]) == sorted(["raw/county_submissions", "raw/labour_insurance",
                                              "raw/training_rosters", *downstream])
    # the second tick sees nothing new
    assert _tick(landing, tmp_path / "warehouse", cursor)[0] == []
    # a file touched but unchanged is not new; a changed one is, alone
    county = next((landing / "county_submissions").iterdir())
    os.utime(county)
    requests, cursor = _tick(landing, tmp_path / "warehouse", cursor)
    assert requests == []
    bli = landing / "labour_insurance" / "bli_11308.csv"
    bli.write_bytes(bli.read_bytes() + b"\n")
    requests, cursor = _tick(landing, tmp_path / "warehouse", cursor)
    assert [(_range(r), _selection(r)) for r in requests] == [
        (("2024Q3", "2024Q3"), sorted(["raw/labour_insurance", *downstream]))]


def test_a_sensor_request_runs_as_one_run_that_publishes(copies):
    """The daemon launches the request as the job with its tags and selection."""
    from dagster_project.definitions import refresh_job_for

    bli = copies.sources_dir / "labour_insurance" / "bli_11304.csv"
    bli.write_bytes(bli.read_bytes() + b"\n")  # new content, same figures
    [request], _ = _tick(copies.sources_dir, copies.warehouse_dir)
    assert _range(request) == ("2024Q2", "2024Q2")
    previous = (copies.releases_dir / "latest").resolve()
    warehouse = WarehouseResource(sources_dir=str(copies.sources_dir),
                                  warehouse_dir=str(copies.warehouse_dir))
    job = refresh_job_for(warehouse)
    run = job.execute_in_process(tags=request.tags, asset_selection=request.asset_selection,
                                 instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert run.success
    assert (copies.releases_dir / "latest").resolve() != previous
    with duckdb.connect(str(copies.working_database), read_only=True) as con:
        assert con.execute("""select vintage from raw.landed_files where file_name = ?
                              and state = 'loaded'""", [bli.name]).fetchall() == [(2,)]
    # and the next tick, without a cursor, sees nothing new
    assert _tick(copies.sources_dir, copies.warehouse_dir)[0] == []


def test_a_sensor_without_cursor_counts_what_the_warehouse_holds_as_seen(tiny_refreshed):
    requests, cursor = _tick(tiny_refreshed.sources_dir, tiny_refreshed.warehouse_dir)
    assert requests == []
    assert len(json.loads(cursor)) > 500


def test_refresh_reads_a_loaded_file_again_only_when_its_size_or_time_changed(copies):
    from dagster_project.ingest.changes import changed_quarters

    assert changed_quarters(copies) == ([], [])
    bli = copies.sources_dir / "labour_insurance" / "bli_11308.csv"
    landed = bli.stat()
    data = bli.read_bytes()
    # other bytes, same size, the time it was loaded with: taken for the version loaded
    # (the quick check of size and time, as rsync and the sensor's cursor make)
    bli.write_bytes(data[:-2] + (b"9\n" if data[-2:] != b"9\n" else b"8\n"))
    os.utime(bli, ns=(landed.st_atime_ns, landed.st_mtime_ns))
    assert bli.stat().st_size == landed.st_size and bli.read_bytes() != data
    assert changed_quarters(copies) == ([], [])
    # the same bytes written again (a new time): read, and recognised as the loaded version
    bli.write_bytes(data)
    assert changed_quarters(copies) == ([], [])
    # other bytes at a new time: new
    bli.write_bytes(data + b"\n")
    assert changed_quarters(copies) == (["2024Q3"], ["labour_insurance"])


def _mark(s, family, quarters):
    with duckdb.connect(str(s.working_database)) as con:
        con.execute(f"update raw.{family} set source_row = -1 where partition_key in "
                    f"({', '.join(repr(q) for q in quarters)})")


def _marked(s, family) -> dict:
    with duckdb.connect(str(s.working_database), read_only=True) as con:
        return dict(con.sql(f"""select partition_key, count(*) filter (where source_row = -1)
                                from raw.{family} group by 1""").fetchall())


def test_a_backfill_of_two_quarters_rewrites_exactly_those_partitions(copies):
    # A mark on every row of three quarters; the backfill rewrites two of them.
    for family in ("training_rosters", "county_submissions"):
        _mark(copies, family, ["2023Q4", "2024Q1", "2024Q2"])
    lines = []
    code = refresh(copies, progress=lines.append, quarters=["2024Q1", "2024Q2"])
    assert code == 0, "\n".join(lines)
    assert "backfill: re-ingesting exactly 2024Q1..2024Q2 (2 quarters), changed or not" in lines
    for family in ("training_rosters", "county_submissions"):
        marked = _marked(copies, family)
        assert marked["2024Q1"] == marked["2024Q2"] == 0, family
        assert marked["2023Q4"] > 0 and marked["2024Q3"] == 0, family


def test_a_dagster_run_is_refused_while_a_refresh_writes(copies):
    from dagster_project.definitions import resources
    from dagster_project.defs.ingest.assets import ingest_assets

    warehouse = WarehouseResource(sources_dir=str(copies.sources_dir),
                                  warehouse_dir=str(copies.warehouse_dir))
    before = copies.working_database.read_bytes()
    with refresh_lock(copies):
        result = dg.materialize([ingest_assets[0]], partition_key="2024Q2",
                                resources=resources(warehouse), raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "another refresh is running on" in failure.event_specific_data.error.message
    assert copies.working_database.read_bytes() == before


READER = textwrap.dedent("""
    import sys, time, duckdb, pathlib, json
    releases, deadline = pathlib.Path(sys.argv[1]), time.time() + float(sys.argv[2])
    stop = pathlib.Path(sys.argv[3])  # the refreshes are over: reading on proves nothing
    seen, errors = set(), []
    while time.time() < deadline and not stop.exists():
        try:
            folder = (releases / "latest").resolve()
            manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
            with duckdb.connect(str(folder / "release.duckdb"), read_only=True) as con:
                n = con.sql("select count(*) from marts.indicator_values").fetchall()[0][0]
            if n != manifest["row_counts"]["marts.indicator_values"]:
                errors.append(f"{folder.name}: {n} rows, manifest says otherwise")
            seen.add(folder.name)
        except Exception as exc:
            errors.append(repr(exc))
        # A reader polls. Each read costs ~25 ms of CPU (DuckDB opening the release): every
        # 50 ms took almost half a core from the refreshes; a busy loop took a whole one.
        time.sleep(0.2)
    print(json.dumps({"seen": sorted(seen), "errors": errors}))
""")


def test_two_concurrent_refreshes_one_publishes_one_is_refused_and_readers_see_only_whole_releases(
        copies, tmp_path):
    """Two `tsdg refresh` processes at once: one publishes, one is refused; a reader
    polling `latest` all the while sees only whole releases, across the switch."""
    releases_before = set(os.listdir(copies.releases_dir))
    first_release = (copies.releases_dir / "latest").resolve().name
    stop = tmp_path / "refreshes-done"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(copies.releases_dir), "300",
                               str(stop)], stdout=subprocess.PIPE, text=True)
    env = {**os.environ, "TSDG_SOURCES_DIR": str(copies.sources_dir),
           "TSDG_WAREHOUSE_DIR": str(copies.warehouse_dir)}
    # backfills: with nothing landed, a plain refresh has nothing to do and starts no run
    command = [sys.executable, "-m", "dagster_project.cli", "refresh", "--quarters", "2024Q2"]
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    second = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        outputs = [p.communicate(timeout=900)[0] for p in (first, second)]
    finally:
        stop.touch()
    report = json.loads(reader.communicate(timeout=200)[0])
    assert report["errors"] == []
    assert first_release in report["seen"]
    assert len(report["seen"]) >= 2  # it read across a switch of `latest`
    codes = sorted(p.returncode for p in (first, second))
    assert codes == [0, 3], outputs
    assert any("another refresh is running" in o for o in outputs)
    # clean exits: nothing printed at exit ("nanobind: leaked …" once came from DuckDB
    # objects outliving their use), exit codes kept and each process's dbt server gone with
    # it, its socket removed (`program` skips the interpreter's teardown, not exit handlers)
    assert not any("leaked" in o for o in outputs), outputs
    assert not [p.pid for p in (first, second) if dbt_server.socket_path(p.pid).exists()]
    new = set(os.listdir(copies.releases_dir)) - releases_before
    assert len(new) == 1
    latest = (copies.releases_dir / "latest").resolve()
    manifest = json.loads((latest / "manifest.json").read_text(encoding="utf-8"))
    with duckdb.connect(str(latest / "release.duckdb"), read_only=True) as con:
        assert con.sql("select count(*) from marts.indicator_values").fetchall()[0][0] == \
            manifest["row_counts"]["marts.indicator_values"]
    with duckdb.connect(str(settings(None, copies.warehouse_dir).working_database), read_only=True) as con:
        assert con.sql("select count(*) from raw.landed_files").fetchall()[0][0] > 0


def test_the_instance_queues_runs_one_at_a_time_and_a_run_is_one_process():
    from dagster_project.definitions import defs
    from dagster_project.defs.operations.jobs import refresh_job

    config = yaml.safe_load((PROJECT_ROOT / "deploy" / "dagster.yaml").read_text())
    assert config["concurrency"]["runs"]["max_concurrent_runs"] == 1
    # the run's build and the writer lock live in one process for all of its steps
    assert refresh_job.executor_def is dg.in_process_executor
    assert defs.executor is dg.in_process_executor


def test_the_scheduled_job_refreshes_one_quarter_end_to_end(copies):
    from dagster_project.definitions import ALL_ASSETS, gx_validation, resources
    from dagster_project.defs.operations.jobs import refresh_job

    warehouse = WarehouseResource(sources_dir=str(copies.sources_dir),
                                  warehouse_dir=str(copies.warehouse_dir))
    definitions = dg.Definitions(assets=ALL_ASSETS, asset_checks=[gx_validation],
                                 jobs=[refresh_job], resources=resources(warehouse))
    _mark(copies, "county_submissions", ["2024Q1", "2024Q2"])
    previous = (copies.releases_dir / "latest").resolve()
    result = definitions.resolve_job_def("quarterly_refresh").execute_in_process(
        partition_key="2024Q2", instance=dg.DagsterInstance.ephemeral())
    assert result.success
    materialized = {e.asset_key.to_user_string() for e in result.all_events
                    if e.event_type_value == "ASSET_MATERIALIZATION"}
    assert {"raw/county_submissions", "marts/indicator_values", "release"} <= materialized
    marked = _marked(copies, "county_submissions")
    assert marked["2024Q2"] == 0 and marked["2024Q1"] > 0  # only the scheduled quarter
    assert (copies.releases_dir / "latest").resolve() != previous
