"""A build keeps the models of families whose files did not change (model_reuse.py), and
what it keeps is exactly what building them again gives."""

import json
import os
import shutil
import subprocess

import duckdb

from dagster_project.config import DATABASE_NAME, DBT_PROJECT_DIR, REGISTRY_FILE
from dagster_project.dbt_manifest import BUILD_VARS, DBT_IN_BUILD, MANIFEST
from dagster_project.defs.reference.assets import REGISTRY_TABLES, WRITTEN_BY, _written_by
from dagster_project.lib.registry import tables
from dagster_project.model_reuse import plan, reusable_models

FAMILIES = {"training_rosters", "employment_services", "labour_insurance",
            "county_submissions", "programme_tallies"}
# What reads only one family, by family: its staging model and its monthly flows.
CHAINS = {
    "training_rosters": ["stg_training__enrolments", "int_training__flows_monthly"],
    "employment_services": ["stg_employment__episodes", "int_employment__flows_monthly"],
    "labour_insurance": ["stg_labour_insurance__county_counts",
                         "int_labour_insurance__flows_monthly"],
    "programme_tallies": ["stg_tallies__monthly", "int_tallies__flows_monthly"],
    "county_submissions": ["stg_county__submissions", "int_county__flows_monthly",
                           "county_programme_quarterly"],
}


def _manifest() -> dict:
    return json.loads(MANIFEST.read_text(encoding="utf-8"))


def test_only_models_of_unchanged_families_are_kept():
    manifest = _manifest()
    # one county file resubmitted: the other four families' chains, nothing that gathers them
    kept = reusable_models(manifest, FAMILIES - {"county_submissions"})
    assert sorted(kept) == sorted(m for f in FAMILIES - {"county_submissions"} for m in CHAINS[f])
    # each model after the models it reads (Dagster takes them in that order)
    assert kept.index("stg_training__enrolments") < kept.index("int_training__flows_monthly")
    assert sorted(reusable_models(manifest, {"training_rosters"})) == sorted(
        CHAINS["training_rosters"])
    assert reusable_models(manifest, set()) == []
    # every family unchanged (a new day: overdue submissions change): the flows of all of
    # them are kept; whatever reads the lifecycle records or the date is built again
    everything = set(reusable_models(manifest, FAMILIES))
    assert everything == {m for chain in CHAINS.values() for m in chain} | {
        "int_indicator_flows__monthly"}
    assert not everything & {"submission_status", "submission_files", "indicator_values",
                             "int_submissions__expected", "county_submission_vintages"}


def test_a_model_reading_another_family_is_never_kept():
    manifest = _manifest()
    node = next(n for n in manifest["nodes"].values() if n["name"] == "stg_tallies__monthly")
    # the declaration says tallies, but the model also reads the training rosters
    node["depends_on"]["nodes"].append("source.tsdg.raw.training_rosters")
    assert "stg_tallies__monthly" not in reusable_models(manifest, FAMILIES)
    assert "int_tallies__flows_monthly" not in reusable_models(manifest, FAMILIES)


def test_a_changed_family_a_changed_project_or_no_record_keeps_nothing_of_it(copies, tmp_path):
    from dagster_project.build_inputs import project_sha256

    database = tmp_path / DATABASE_NAME
    shutil.copy2(copies.working_database, database)
    project = project_sha256()
    assert set(plan(database, MANIFEST, project).unchanged) == FAMILIES
    with duckdb.connect(str(database)) as con:  # one roster re-ingested: a new load time
        con.execute("""update raw.landed_files set loaded_at = loaded_at + interval 1 second
                       where file_sha256 = (select min(file_sha256) from raw.landed_files
                                            where family = 'training_rosters')""")
    reuse = plan(database, MANIFEST, project)
    assert set(reuse.unchanged) == FAMILIES - {"training_rosters"}
    assert not set(reuse.models) & set(CHAINS["training_rosters"])
    with duckdb.connect(str(database)) as con:  # a row more in a family's raw table
        con.execute("insert into raw.programme_tallies select * from raw.programme_tallies limit 1")
    assert "programme_tallies" not in plan(database, MANIFEST, project).unchanged
    changed = plan(database, MANIFEST, "another project")
    assert changed.models == [] and "project" in changed.why_not
    with duckdb.connect(str(database)) as con:
        con.execute("drop table meta.dbt_inputs")
    assert plan(database, MANIFEST, project).models == []


def test_registry_tables_are_kept_only_as_written_by_this_project(copies, tmp_path):
    from dagster_project.build_inputs import project_sha256

    database = tmp_path / DATABASE_NAME
    shutil.copy2(copies.working_database, database)
    with duckdb.connect(str(database)) as con:
        assert _written_by(con) == project_sha256()
        con.execute(f"update {WRITTEN_BY} set project_sha256 = 'another project'")
        assert _written_by(con) == "another project"  # then the step writes them
        con.execute("drop table registry.units")
        assert _written_by(con) is None  # a table missing: written again


def test_kept_models_equal_building_every_model_again(copies, tmp_path):
    from dagster_project.refresh import refresh

    validated_before = json.loads(
        (copies.releases_dir / "latest" / "validation.json").read_text())["run_id"]
    county = sorted((copies.sources_dir / "county_submissions").glob("*.csv"))[0]
    county.write_bytes(county.read_bytes() + b"\n")  # new bytes: a new vintage
    lines = []
    assert refresh(copies, progress=lines.append) == 0, "\n".join(lines)
    said = [line for line in lines if line.startswith("  kept as")]
    assert len(said) == 1 and all(m in said[0] for f in FAMILIES - {"county_submissions"}
                                  for m in CHAINS[f])
    assert not [line for line in lines if "materialized" in line and "stg_training" in line]
    # the registry's tables too: written by this very project, not written again
    assert all(f"registry/{t}" in said[0] for t in REGISTRY_TABLES)
    release = json.loads((copies.releases_dir / "latest" / "manifest.json").read_text())
    kept = sum(len(CHAINS[f]) for f in FAMILIES - {"county_submissions"})
    assert release["validation"]["dbt_build"]["kept"] == kept
    assert release["validation"]["dbt_build"]["success"] == 20 - kept  # the other models
    # the kept staging tables' suites are carried over from the run that validated them
    validation = json.loads((copies.releases_dir / "latest" / "validation.json").read_text())
    carried = {r["table"]: r["validated_by_run"] for r in validation["suites"]
               if "validated_by_run" in r}
    assert set(carried) == {f"staging.{CHAINS[f][0]}" for f in FAMILIES - {"county_submissions"}}
    assert release["validation"]["great_expectations"]["carried_suites"] == len(carried)
    assert validation["expectations"] == sum(len(r["expectations"]) for r in validation["suites"])
    assert len(validation["suites"]) == 8 and validation["passed"] is True
    assert set(carried.values()) == {validated_before}  # the run that published the base

    # Every model built again, by dbt, on a copy of the warehouse that run published.
    again = tmp_path / "again"
    again.mkdir()
    shutil.copy2(copies.working_database, again / DATABASE_NAME)
    # from the setup's parse state, as every build starts (test_dbt_parse_state.py)
    (again / "dbt_target").mkdir()
    shutil.copy2(MANIFEST.parent / "partial_parse.msgpack", again / "dbt_target")
    env = {**os.environ, "DBT_TARGET_PATH": str(again / "dbt_target"),
           "DBT_PROJECT_DIR": str(DBT_PROJECT_DIR), "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR)}
    done = subprocess.run([DBT_IN_BUILD, "build", "--exclude-resource-type", "unit_test",
                           "--vars", json.dumps(BUILD_VARS)], env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout[-3000:]
    models = [(n["schema"], n["name"]) for n in _manifest()["nodes"].values()
              if n["resource_type"] == "model"]
    assert len(models) == 20
    with duckdb.connect(str(again / DATABASE_NAME)) as con:
        con.execute(f"attach '{copies.working_database}' as published (read_only)")
        for schema, name in models:
            differ = con.execute(f"""select count(*) from (
                (select * from published.{schema}.{name} except all select * from {schema}.{name})
                union all
                (select * from {schema}.{name} except all select * from published.{schema}.{name}))
                """).fetchone()[0]
            rows = con.execute(f"select count(*) from {schema}.{name}").fetchone()[0]
            assert differ == 0 and rows > 0, (schema, name, differ, rows)
    # and the registry's tables are what writing them from the registry gives
    with duckdb.connect(str(copies.working_database), read_only=True) as con:
        for name, frame in tables(REGISTRY_FILE).items():
            con.register("frame", frame)
            differ = con.execute(f"""select count(*) from (
                (select * from registry.{name} except all select * from frame)
                union all
                (select * from frame except all select * from registry.{name}))
                """).fetchall()[0][0]
            con.unregister("frame")
            assert differ == 0 and len(frame) > 0, name
