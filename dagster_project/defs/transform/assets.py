"""The dbt project as Dagster assets (staging → intermediate → marts)."""

import json
from collections import Counter
from functools import cached_property
from importlib.metadata import version as installed_version

import dagster as dg
from packaging import version

from dagster_project import dbt_server, lake, model_reuse
from dagster_project.build_inputs import project_sha256
from dagster_project.config import DBT_PROJECT_DIR
from dagster_project.dbt_manifest import BUILD_VARS, DBT_IN_BUILD
from dagster_project.defs.resources import WarehouseResource
from dagster_project.lean_dagster_dbt import (
    DagsterDbtTranslator,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)
from dagster_project.publish import candidate, pdf_printer
from dagster_project.publish.release import prefetch_writers
from dagster_project.quality import validate
from dagster_project.spark_engine import load_into_duckdb, spark_build_args

DBT_SUMMARY = "last_dbt_build.json"
# A run tagged tsdg/engine=spark (`tsdg refresh --engine spark`) builds the models on Spark.
ENGINE_TAG = "tsdg/engine"
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
    # dbt runs in a subprocess started in the build's folder (dbt_in_build.py), its profile
    # naming the build's file by name: the same profile and vars in every warehouse, so
    # every build starts from the parse state of the project's last parse (dagster-dbt
    # copies dbt/target/partial_parse.msgpack into the build's target path).
    s = warehouse.build(context)
    if context.run.tags.get(ENGINE_TAG, "duckdb") == "spark":
        yield from _build_on_spark(context, dbt, warehouse, s)
        return
    # dbt's artifacts of this build live in the build's folder: removed with it when it is
    # published, kept with it in failed/ when not (a folder per run under dbt/target would
    # only accumulate).
    target_path = s.database.parent / "dbt_target"
    # dbt's unit tests check the models' logic on fixed inputs, not this data: they run in
    # the test suite (tests/integration/test_dbt_unit_tests.py), not in every refresh, as
    # dbt advises.
    dbt_server.ensure()  # started with the run by `tsdg refresh`; here for other launchers
    project = project_sha256()
    reuse = _plan_reuse(context, s, project)
    # This process now waits for dbt: GX's server imports GX meanwhile, a thread the
    # release's writers, and the browser that prints its report starts if it prints here.
    validate.ensure()
    prefetch_writers()
    if candidate.renders_here(context):
        pdf_printer.warm()
    invocation = dbt.cli(["build", "--exclude-resource-type", "unit_test",
                          "--vars", json.dumps(BUILD_VARS)], context=context,
                         target_path=target_path)
    # Kept models come first: Dagster takes a multi-asset's outputs in dependency order,
    # and a kept model reads only kept models.
    yield from _kept(context, reuse)
    yield from invocation.stream()
    _record_summary(invocation, s, len(reuse.models))
    if invocation.is_successful():
        model_reuse.record(s.database, project)


def _plan_reuse(context, s, project: str) -> model_reuse.Reuse:
    """The models of unchanged families kept as the last published build left them
    (model_reuse.py), when the run builds every model; the list goes to tsdg-dbt."""
    if set(context.selected_asset_keys) != set(context.assets_def.keys):
        reuse = model_reuse.Reuse(why_not="the run builds only some of the models")
    else:
        reuse = model_reuse.plan(s.database, dbt_project.manifest_path, project)
    model_reuse.hand_over(s.database.parent, reuse.models)
    if reuse.models:
        context.log.info(f"{len(reuse.models)} models kept as the last published build left "
                         f"them (no file of {', '.join(reuse.unchanged)} changed since, same "
                         f"project): {', '.join(reuse.models)}")
    else:
        context.log.info(f"every model built: {reuse.why_not or 'no model reads only unchanged families'}")
    return reuse


def _kept(context, reuse: model_reuse.Reuse):
    """A kept model is in the build as published before: its asset is current in this run
    too, and the checks and the release downstream of it run."""
    by_name = {key.path[-1]: key for key in context.assets_def.keys}
    for name in reuse.models:
        yield dg.Output(None, output_name=context.assets_def.get_output_name_for_asset_key(
            by_name[name]), metadata={"rebuilt": False, "kept": "built by an earlier "
                                      "published run from the same inputs (no file of "
                                      f"{', '.join(reuse.unchanged)} changed since)"})


def _record_summary(invocation, s, kept: int = 0) -> None:
    """The publish step records what this build ran and how it ended."""
    results = invocation.get_artifact("run_results.json")["results"]
    # models and tests (not the on-run-start hook, which on DuckDB does nothing)
    summary = Counter(r["status"] for r in results
                      if r["unique_id"].split(".")[0] in ("model", "test"))
    if kept:
        summary["kept"] = kept
    (s.database.parent / DBT_SUMMARY).write_text(json.dumps(dict(summary)))


def _build_on_spark(context, dbt, warehouse, s):
    """`tsdg refresh --engine spark`: the same models on Spark over the lake as this build
    sees it, then their tables into the build's DuckDB file, where validation and
    publication go on exactly as after a DuckDB build (same checks, same release files)."""
    spark_dir = s.database.parent / "spark"
    build_lake = lake.complete_for_engine(s.database, s.database.parent,
                                          warehouse.settings.warehouse_dir)
    invocation = dbt.cli(spark_build_args(build_lake, spark_dir), context=context,
                         target_path=spark_dir / "target")
    yield from invocation.stream()
    _record_summary(invocation, s)
    tables = load_into_duckdb(spark_dir, s.database)
    model_reuse.forget(s.database)
    context.log.info(f"{len(tables)} tables built on Spark loaded into the build: "
                     + ", ".join(tables))


class LeanDbtCliResource(DbtCliResource):
    """dagster-dbt's resource without two costs we gain nothing from (8 s of a 45 s tiny
    refresh, measured with cProfile): it runs `dbt --version` in a subprocess to learn the
    version of the dbt installed beside it, and it loads the whole dbt project in-process
    (an adapter) to serve `fetch_row_counts`/`fetch_column_metadata`, which we never call.
    If a later dagster-dbt renames these hooks, the overrides stop applying and only the
    time comes back."""

    @cached_property
    def _cli_version(self) -> version.Version:
        # DBT_IN_BUILD starts this environment's dbt: the dbt-core package's own version.
        return version.parse(installed_version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):
        return None


def dbt_resource() -> DbtCliResource:
    return LeanDbtCliResource(project_dir=dbt_project, profiles_dir=str(DBT_PROJECT_DIR),
                              dbt_executable=DBT_IN_BUILD)
