"""The quarterly refresh job: ingest a quarter's partitions, build, validate, publish.

Schedules and the landing sensor launch it with a partition key and, for the sensor, an
asset selection of exactly the families that changed plus everything downstream.
"""

import dagster as dg

from dagster_project.defs.ingest.assets import ingest_assets
from dagster_project.defs.publish.assets import release
from dagster_project.defs.reference.assets import reference_data
from dagster_project.defs.transform.assets import dbt_models

INGEST_KEYS = [a.key for a in ingest_assets]
# Unpartitioned: they rebuild from whatever the raw tables hold after the ingest.
DOWNSTREAM_KEYS = [*reference_data.keys, *dbt_models.keys, release.key]

refresh_job = dg.define_asset_job(
    "quarterly_refresh",
    selection=dg.AssetSelection.assets(*INGEST_KEYS, *DOWNSTREAM_KEYS),
    description="Ingest one quarter of every source family, build the marts, validate "
                "(blocking GX checks) and publish a release.",
    tags={"tsdg/job": "refresh"},
)
