"""The dbt project as Dagster assets (staging → intermediate → marts)."""

import json
from collections import Counter

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from dagster_project.config import DBT_PROJECT_DIR, DUCKDB_MEMORY_LIMIT
from dagster_project.dbt_manifest import DBT_EXECUTABLE
from dagster_project.defs.resources import WarehouseResource

DBT_SUMMARY = "last_dbt_build.json"
dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


class LayerGroups(DagsterDbtTranslator):
    """dbt models grouped by layer (staging, intermediate, marts) in the asset graph."""

    def get_group_name(self, dbt_resource_props) -> str:
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else "transform"


# The manifest is prepared before the definitions load (`make setup`, `tsdg refresh`, the
# tests: dagster_project/dbt_manifest.py), never by importing this module.
@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project,
            dagster_dbt_translator=LayerGroups())
def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    # dbt runs in a subprocess; its profile takes the file being built from --vars.
    s = warehouse.build(context)
    target = {"tsdg_database": str(s.database), "tsdg_memory_limit": DUCKDB_MEMORY_LIMIT}
    invocation = dbt.cli(["build", "--vars", json.dumps(target)], context=context)
    yield from invocation.stream()
    # The publish step records what this build ran and how it ended.
    results = invocation.get_artifact("run_results.json")["results"]
    summary = Counter(r["status"] for r in results)
    (s.database.parent / DBT_SUMMARY).write_text(json.dumps(dict(summary)))


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project, profiles_dir=str(DBT_PROJECT_DIR),
                          dbt_executable=DBT_EXECUTABLE)
