"""The published release: marts copied out of the warehouse, CSVs and a manifest."""

import json

import dagster as dg
from dagster_dbt import get_asset_key_for_model

from dagster_project.defs.resources import WarehouseResource
from dagster_project.defs.transform.assets import DBT_SUMMARY, dbt_models
from dagster_project.publish.release import MARTS, publish


@dg.asset(
    group_name="publish",
    deps=[get_asset_key_for_model([dbt_models], m) for m in MARTS],
    kinds={"duckdb", "csv"},
    description="A release folder under <warehouse>/releases/ and the `latest` pointer.",
)
def release(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    s = warehouse.settings
    summary_file = s.warehouse_dir / DBT_SUMMARY
    validation = {"dbt_build": json.loads(summary_file.read_text())} if summary_file.exists() else {}
    folder = publish(s.database, s.releases_dir, validation)
    context.log.info(f"published {folder}")
    return dg.MaterializeResult(metadata={"release": dg.MetadataValue.path(str(folder))})
