"""The dbt project as Dagster assets (staging → intermediate → marts)."""

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from dagster_project.config import DBT_PROJECT_DIR, DUCKDB_MEMORY_LIMIT
from dagster_project.defs.resources import WarehouseResource

# The dbt of this interpreter's environment, whether or not the venv is on PATH.
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")
DBT_SUMMARY = "last_dbt_build.json"
dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def ensure_manifest() -> Path:
    """dbt parse when the manifest is missing or older than a model, macro or config file
    (dagster-dbt only parses by itself under `dagster dev`)."""
    manifest = dbt_project.manifest_path
    sources = [p for p in DBT_PROJECT_DIR.rglob("*") if p.suffix in (".sql", ".yml")
               and "target" not in p.parts]
    if not manifest.exists() or max(p.stat().st_mtime for p in sources) > manifest.stat().st_mtime:
        subprocess.run([DBT_EXECUTABLE, "parse", "--quiet", "--project-dir", str(DBT_PROJECT_DIR),
                        "--profiles-dir", str(DBT_PROJECT_DIR)],
                       check=True, env={**os.environ, "DO_NOT_TRACK": "1"},
                       cwd=DBT_PROJECT_DIR)
    return manifest


class LayerGroups(DagsterDbtTranslator):
    """dbt models grouped by layer (staging, intermediate, marts) in the asset graph."""

    def get_group_name(self, dbt_resource_props) -> str:
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else "transform"


@dbt_assets(manifest=ensure_manifest(), project=dbt_project, pool="warehouse",
            dagster_dbt_translator=LayerGroups())
def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    # dbt runs in a subprocess; the profile reads the warehouse path from the environment.
    os.environ["TSDG_DATABASE"] = str(warehouse.settings.database)
    os.environ["TSDG_DUCKDB_MEMORY_LIMIT"] = DUCKDB_MEMORY_LIMIT
    with warehouse.writing():
        invocation = dbt.cli(["build"], context=context)
        yield from invocation.stream()
    # The publish step records what this build ran and how it ended.
    results = invocation.get_artifact("run_results.json")["results"]
    summary = Counter(r["status"] for r in results)
    (warehouse.settings.database.parent / DBT_SUMMARY).write_text(json.dumps(dict(summary)))


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project, profiles_dir=str(DBT_PROJECT_DIR),
                          dbt_executable=DBT_EXECUTABLE)
