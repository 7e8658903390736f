"""The Dagster definitions: the one graph `dagster dev`, `tsdg refresh` and the tests run."""

import dagster as dg

from dagster_project.defs.ingest.assets import ingest_assets
from dagster_project.defs.operations.jobs import refresh_job, refresh_job_def
from dagster_project.defs.operations.schedules import quarterly_refresh_schedule
from dagster_project.defs.operations.sensors import landing_sensor
from dagster_project.defs.publish.assets import release
from dagster_project.defs.quality.checks import gx_validation
from dagster_project.defs.reference.assets import reference_data
from dagster_project.defs.resources import WarehouseResource, default_warehouse
from dagster_project.defs.transform.assets import dbt_models, dbt_resource

ALL_ASSETS = [*ingest_assets, reference_data, dbt_models, release]


def resources(warehouse=None) -> dict:
    return {"warehouse": warehouse or default_warehouse(), "dbt": dbt_resource()}


def refresh_job_for(warehouse, job=refresh_job) -> dg.JobDefinition:
    """The refresh job with its resources bound to one landing area and warehouse (what
    `tsdg refresh` launches; the UI launches the same job from `defs`)."""
    return dg.Definitions(assets=ALL_ASSETS, asset_checks=[gx_validation], jobs=[job],
                          resources=resources(warehouse)).resolve_job_def(job.name)


def parallel_refresh_job(sources_dir: str, warehouse_dir: str, workers: int) -> dg.JobDefinition:
    """The refresh job on Dagster's multiprocess executor, each step a process of its own,
    at most `workers` at a time. Reconstructed by name in every step process
    (dg.build_reconstructable_job), so it takes plain arguments. The build is the launcher's
    (WarehouseResource.joined). Steps are forked from a server that has imported these
    definitions once (`forkserver`), not spawned: a spawned step spent seconds of CPU
    importing Dagster, dbt and our code before doing anything."""
    executor = dg.multiprocess_executor.configured(
        {"max_concurrent": workers, "start_method": {"forkserver": {"preload_modules": [__name__]}}})
    return refresh_job_for(
        WarehouseResource(sources_dir=sources_dir, warehouse_dir=warehouse_dir, joined=True),
        refresh_job_def(executor))


defs = dg.Definitions(
    assets=ALL_ASSETS,
    asset_checks=[gx_validation],
    jobs=[refresh_job],
    schedules=[quarterly_refresh_schedule],
    sensors=[landing_sensor],
    resources=resources(),
    # Materializations started from the asset graph run like the job: one process, one build.
    executor=dg.in_process_executor,
)
