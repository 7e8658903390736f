"""The published release: marts copied out of the warehouse, CSVs and a manifest."""

import json
import os
from datetime import timedelta

import dagster as dg

from dagster_project.defs.resources import WarehouseResource
from dagster_project.defs.transform.assets import DBT_SUMMARY, ENGINE_TAG, dbt_models
from dagster_project.lean_dagster_dbt import get_asset_key_for_model
from dagster_project.publish import candidate
from dagster_project.publish.release import MARTS, NotValidated, commit, publish, require_pass

MAX_AGE_DAYS = int(os.environ.get("TSDG_RELEASE_MAX_AGE_DAYS", "140"))


@dg.asset(
    group_name="publish",
    deps=[get_asset_key_for_model([dbt_models], m) for m in MARTS],
    kinds={"duckdb", "csv"},
    description="A release folder under <warehouse>/releases/ and the `latest` pointer; "
                "refuses to publish without this run's explicit validation pass.",
    # Stale when no release was published for a quarter and its deadline.
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(days=MAX_AGE_DAYS)),
)
def release(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    s = warehouse.build(context)
    # Blocking checks have gaps across dbt and Python assets: read the results ourselves.
    try:
        results = require_pass(s.validation_file, context.run.run_id)
    except NotValidated as exc:
        raise dg.Failure(description=f"PUBLICATION BLOCKED: {exc}. The previous release is "
                                     "unchanged.") from None
    summary_file = s.database.parent / DBT_SUMMARY
    validation = {
        "great_expectations": {k: results[k] for k in
                               ("passed", "expectations", "errors", "warnings", "seconds",
                                "carried_suites")},
        "dbt_build": json.loads(summary_file.read_text()) if summary_file.exists() else {},
        "dbt_engine": context.run.tags.get(ENGINE_TAG, "duckdb"),
        "passed": True,
    }
    attachments = (s.validation_file, s.validation_file.with_suffix(".html"))
    # Rendered while the build was validated, if the GX step ran in this process.
    pending = candidate.take(s.database, context.run.run_id)
    folder = (commit(pending.rendered(), validation, attachments) if pending is not None
              else publish(s.database, s.releases_dir, validation, attachments))
    warehouse.promote()
    context.log.info(f"published {folder}; this run's build is now the working warehouse")
    return dg.MaterializeResult(metadata={"release": dg.MetadataValue.path(str(folder))})
