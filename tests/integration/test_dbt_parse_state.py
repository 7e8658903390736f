"""A build's dbt, in any warehouse, starts from the parse state made at setup and opens the
build's own DuckDB file (tsdg-dbt: dagster_project/dbt_in_build.py)."""

import json
import os
import shutil
import subprocess

import duckdb
import pytest

from dagster_project.config import DATABASE_NAME, DBT_PROJECT_DIR
from dagster_project.dbt_manifest import BUILD_VARS, DBT_IN_BUILD, MANIFEST

pytestmark = pytest.mark.tools


def test_a_build_in_a_new_warehouse_reuses_the_setup_parse_state_and_opens_its_own_file(tmp_path):
    # As dbt_models lays a build out: builds/<run id>/ holds the DuckDB file and dbt_target/,
    # which dagster-dbt seeds with the project's parse state.
    build = tmp_path / "some-new-warehouse" / "builds" / "run-1"
    target = build / "dbt_target"
    target.mkdir(parents=True)
    shutil.copy2(MANIFEST.parent / "partial_parse.msgpack", target / "partial_parse.msgpack")
    env = {**os.environ, "DO_NOT_TRACK": "1", "DBT_TARGET_PATH": str(target),
           "DBT_LOG_PATH": str(target), "DBT_PROJECT_DIR": str(DBT_PROJECT_DIR),
           "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR)}
    done = subprocess.run([DBT_IN_BUILD, "show", "--inline", "select 42 as answer",
                           "--vars", json.dumps(BUILD_VARS)],
                          env=env, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    # dbt says why when it cannot use the saved state (profile, vars, versions changed)
    assert "Unable to do partial parsing" not in done.stdout
    assert "Starting full parse" not in done.stdout
    assert "42" in done.stdout
    # the profile's bare file name resolved in the build's folder, nowhere else
    assert (build / DATABASE_NAME).exists()
    assert not (tmp_path / DATABASE_NAME).exists() and not (DBT_PROJECT_DIR / DATABASE_NAME).exists()
    with duckdb.connect(str(build / DATABASE_NAME), read_only=True) as con:
        assert con.execute("select 1").fetchone() == (1,)
