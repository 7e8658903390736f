"""One pipeline wherever a run starts: a run launched as the UI launches it (the job, in
process) does write-audit-publish exactly as `tsdg refresh` does — the same figures, the
working warehouse and `latest` untouched when it is killed or does not publish — and every
`tsdg refresh` is recorded in the persistent Dagster instance that `make dev` opens."""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import dagster as dg

from dagster_project.config import settings
from dagster_project.refresh import quarters_with_files, refresh

FIGURES = ("indicator_values.csv", "indicator_progress.csv", "county_programme_quarterly.csv")

UI_RUN = textwrap.dedent("""
    import sys
    import dagster as dg
    from dagster_project.definitions import refresh_job_for
    from dagster_project.defs.operations.jobs import range_tags
    from dagster_project.defs.resources import WarehouseResource

    sources, warehouse, first, last = sys.argv[1:5]
    job = refresh_job_for(WarehouseResource(sources_dir=sources, warehouse_dir=warehouse))
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(),
                                    tags=range_tags([first, last]), raise_on_error=False)
    sys.exit(0 if result.success else 1)
""")


def _ui_run(s, first, last, **popen):
    """The refresh job launched as the UI's "Materialize all" over a range of quarters."""
    return subprocess.Popen([sys.executable, "-c", UI_RUN, str(s.sources_dir),
                             str(s.warehouse_dir), first, last], **popen)


def test_a_ui_run_publishes_the_same_figures_as_tsdg_refresh(tiny_sample, tiny_refreshed, tmp_path):
    from dagster_project.definitions import refresh_job_for
    from dagster_project.defs.operations.jobs import range_tags
    from dagster_project.defs.resources import WarehouseResource

    shutil.copytree(tiny_sample[0], tmp_path / "landing")
    s = settings(tmp_path / "landing", tmp_path / "warehouse")
    quarters = quarters_with_files(s)
    # UI_RUN's code, in this process (its imports are made): the kill below needs a process
    job = refresh_job_for(WarehouseResource(sources_dir=str(s.sources_dir),
                                            warehouse_dir=str(s.warehouse_dir)))
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(),
                                    tags=range_tags([quarters[0], quarters[-1]]), raise_on_error=False)
    assert result.success, [e.message for e in result.all_events if e.is_failure][:3]
    ui, cli = s.releases_dir / "latest" / "data", tiny_refreshed.releases_dir / "latest" / "data"
    for name in FIGURES:
        assert (ui / name).read_bytes() == (cli / name).read_bytes(), name
    assert (ui / "indicator_values.csv").stat().st_size > 10_000
    # the run's build replaced the working warehouse; no build is left behind
    assert s.working_database.exists() and not list((s.warehouse_dir / "builds").iterdir())


def test_tsdg_refresh_runs_are_recorded_in_the_instance_make_dev_shows(tiny_refreshed):
    with dg.DagsterInstance.from_config(str(tiny_refreshed.warehouse_dir / "dagster_home")) as instance:
        runs = instance.get_runs()
        assert [r.job_name for r in runs] == ["quarterly_refresh"]
        assert runs[0].tags["tsdg/trigger"] == "tsdg refresh"
        assert runs[0].status == dg.DagsterRunStatus.SUCCESS
        release = instance.get_latest_materialization_event(dg.AssetKey("release"))
        assert release.run_id == runs[0].run_id
        folder = release.asset_materialization.metadata["release"].value
        assert os.path.realpath(folder) == str((tiny_refreshed.releases_dir / "latest").resolve())


def test_a_ui_run_killed_mid_build_leaves_the_warehouse_and_latest_unchanged(copies, release_digest):
    working_before = copies.working_database.read_bytes()
    latest_before, digest_before = (copies.releases_dir / "latest").resolve(), release_digest(copies)
    process = _ui_run(copies, "2024Q1", "2024Q2", stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL, start_new_session=True)
    builds = copies.warehouse_dir / "builds"
    deadline = time.monotonic() + 300
    while not (builds.exists() and list(builds.glob("*/tsdg.duckdb"))):
        assert process.poll() is None and time.monotonic() < deadline, "the run never built"
        time.sleep(0.2)
    time.sleep(3)  # into the ingest and the dbt build of the copy
    assert process.poll() is None, "the run finished before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)  # the run and its dbt child
    process.wait()
    assert copies.working_database.read_bytes() == working_before
    assert (copies.releases_dir / "latest").resolve() == latest_before
    assert release_digest(copies) == digest_before
    [orphan] = list(builds.iterdir())
    # the next run from any entry point retires the orphan and publishes
    lines = []
    assert refresh(copies, progress=lines.append, quarters=["2024Q2"]) == 0, "\n".join(lines)
    assert "orphaned build of an interrupted run" in (
        copies.warehouse_dir / "failed" / orphan.name / "REASON.txt").read_text()
    assert not list(builds.iterdir())
    assert (copies.releases_dir / "latest").resolve() != latest_before


def test_a_run_that_does_not_publish_never_reaches_the_working_warehouse(copies, release_digest):
    from dagster_project.definitions import refresh_job_for
    from dagster_project.defs.resources import WarehouseResource

    working_before, digest_before = copies.working_database.read_bytes(), release_digest(copies)
    bli = copies.sources_dir / "labour_insurance" / "bli_11304.csv"
    bli.write_bytes(bli.read_bytes() + b"\n")  # new content: the ingest writes
    warehouse = WarehouseResource(sources_dir=str(copies.sources_dir),
                                  warehouse_dir=str(copies.warehouse_dir))
    job = refresh_job_for(warehouse)
    # The UI's "Materialize" on one partition of one family: ingest only, no release step.
    result = job.execute_in_process(partition_key="2024Q2", instance=dg.DagsterInstance.ephemeral(),
                                    asset_selection=[dg.AssetKey(["raw", "labour_insurance"])])
    assert result.success
    assert copies.working_database.read_bytes() == working_before
    assert release_digest(copies) == digest_before
    reason = (copies.warehouse_dir / "failed" / result.run_id / "REASON.txt").read_text()
    assert "not published" in reason and "did not include the release step" in reason
    assert not list((copies.warehouse_dir / "builds").iterdir())
