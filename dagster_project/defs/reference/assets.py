"""The indicator registry and reference data as registry.* tables for dbt and the checks."""

import dagster as dg

from dagster_project.build_inputs import project_sha256
from dagster_project.config import REGISTRY_FILE
from dagster_project.defs.resources import WarehouseResource
from dagster_project.lib.duckdb_tables import table_names
from dagster_project.lib.registry import tables
from dagster_project.write_audit_publish import writer

# The project digest (build_inputs.py: registry, reference data, contract, code) the
# registry tables were written by, beside them.
WRITTEN_BY = "meta.registry_written_by"
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
    project = project_sha256()
    with writer(s.database) as con:  # ingest steps may be merging beside it
        kept = {}
        if _written_by(con) == project:
            rows = {name: con.execute(f"select count(*) from registry.{name}").fetchall()[0][0]
                    for name in REGISTRY_TABLES}
            kept = {"rebuilt": False, "kept": "written by an earlier run of the same project "
                                              "(registry files, reference data and code)"}
        else:
            frames = tables(REGISTRY_FILE)
            con.execute("create schema if not exists registry")
            for name in REGISTRY_TABLES:
                con.register("frame", frames[name])
                con.execute(f"create or replace table registry.{name} as select * from frame")
                con.unregister("frame")
            rows = {name: len(frame) for name, frame in frames.items()}
            con.execute("create schema if not exists meta")
            con.execute(f"create or replace table {WRITTEN_BY} as select ? as project_sha256",
                        [project])
    for name in REGISTRY_TABLES:
        yield dg.MaterializeResult(asset_key=["registry", name],
                                   metadata={"rows": rows[name], **kept})


def _written_by(con) -> str | None:
    """The project that wrote this build's registry tables, if all are there. A build is a
    copy of the working warehouse: tables written by this very project are what writing
    them again would give."""
    present = table_names(con)
    if WRITTEN_BY not in present or not all(f"registry.{n}" in present for n in REGISTRY_TABLES):
        return None
    return con.execute(f"select project_sha256 from {WRITTEN_BY}").fetchall()[0][0]
