"""The indicator registry and reference data as registry.* tables for dbt and the checks."""

import dagster as dg

from dagster_project.config import REGISTRY_FILE
from dagster_project.defs.resources import WarehouseResource
from dagster_project.lib.registry import tables
from dagster_project.write_audit_publish import writer

REGISTRY_TABLES = ("indicators", "indicator_measures", "window_rules", "targets", "counties",
                   "branches", "families", "units", "flows", "parameters", "codelists")


@dg.multi_asset(
    specs=[dg.AssetSpec(["registry", t], group_name="reference", kinds={"duckdb", "yaml"},
                        description=f"registry.{t} from registry/ (indicators.yml, sources.yml) "
                                    "and the reference CSVs")
           for t in REGISTRY_TABLES],
)
def reference_data(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    s = warehouse.build(context)
    frames = tables(REGISTRY_FILE)
    with writer(s.database) as con:  # ingest steps may be merging beside it
        con.execute("create schema if not exists registry")
        for name in REGISTRY_TABLES:
            con.register("frame", frames[name])
            con.execute(f"create or replace table registry.{name} as select * from frame")
            con.unregister("frame")
    for name in REGISTRY_TABLES:
        yield dg.MaterializeResult(asset_key=["registry", name],
                                   metadata={"rows": len(frames[name])})
