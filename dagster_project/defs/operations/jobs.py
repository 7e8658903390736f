"""The refresh job: ingest a range of quarters, build, validate, publish.

`tsdg refresh`, the quarterly schedule, the landing sensor and the UI all launch this one
job. It runs in one process (the in-process executor) so that the run's build and the
writer lock span all of its steps (write-audit-publish: dagster_project/write_audit_publish.py).
`tsdg refresh --workers N` runs the same assets on the multiprocess executor: the ingest
steps (one per family) in parallel processes, each loading into a workspace of its own and
merging into the build (dagster_project/ingest/workspace.py), the launcher holding the lock.
"""

import dagster as dg

from dagster_project.defs.ingest.assets import ingest_assets
from dagster_project.defs.publish.assets import release
from dagster_project.defs.reference.assets import reference_data
from dagster_project.defs.transform.assets import dbt_models

INGEST_KEYS = [a.key for a in ingest_assets]
# Unpartitioned: they rebuild from whatever the raw tables hold after the ingest.
DOWNSTREAM_KEYS = [*reference_data.keys, *dbt_models.keys, release.key]



def refresh_job_def(executor: dg.ExecutorDefinition = dg.in_process_executor):
    return dg.define_asset_job(
        "quarterly_refresh",
        selection=dg.AssetSelection.assets(*INGEST_KEYS, *DOWNSTREAM_KEYS),
        description="Ingest one quarter of every source family, build the marts, validate "
                    "(blocking GX checks) and publish a release.",
        tags={"tsdg/job": "refresh"},
        executor_def=executor,
    )


refresh_job = refresh_job_def()


def range_tags(quarters: list[str]) -> dict[str, str]:
    """A single run over the quarters from the first to the last (the ingest assets'
    backfill policy is one run for a range)."""
    return {"dagster/asset_partition_range_start": quarters[0],
            "dagster/asset_partition_range_end": quarters[-1]}
