"""The dbt unit tests (the counting rules on hand-made inputs: youth 15–29, windows,
per-1000 rates, …) run here, once, not in every refresh. They need the upstream relations
to exist, so they run against a copy of the tiny warehouse."""

import json
import os
import shutil
import subprocess

from dagster_project.config import DBT_PROJECT_DIR
from dagster_project.dbt_manifest import DBT_EXECUTABLE, MANIFEST


def test_every_dbt_unit_test_passes(tiny_refreshed, tmp_path):
    database = tmp_path / "tsdg.duckdb"
    shutil.copy2(tiny_refreshed.working_database, database)
    defined = {k for k in json.loads(MANIFEST.read_text("utf-8"))["unit_tests"]}
    assert len(defined) >= 10
    done = subprocess.run(
        [DBT_EXECUTABLE, "test", "--select", "test_type:unit", "--project-dir",
         str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
         "--target-path", str(tmp_path / "target"),
         "--vars", json.dumps({"tsdg_database": str(database)})],
        cwd=DBT_PROJECT_DIR, capture_output=True, text=True,
        env={**os.environ, "DO_NOT_TRACK": "1"})
    results = json.loads((tmp_path / "target" / "run_results.json").read_text("utf-8"))
    # (the on-run-start hook, which makes the lake's views on Spark, reports too: not a test)
    ran = {r["unique_id"]: r["status"] for r in results["results"]
           if r["unique_id"].startswith("unit_test.")}
    failed = {k: v for k, v in ran.items() if v != "pass"}
    assert done.returncode == 0 and not failed, (failed, done.stdout[-3000:])
    assert set(ran) == defined  # every unit test the project defines ran, and passed
