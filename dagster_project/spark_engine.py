"""The dbt models on Apache Spark: the same project, `--target spark`, reading the lake.

dbt-spark's `session` method starts a local Spark (pyspark, Java 17) inside the dbt
process; the catalog lives with that session, and the tables it builds are Parquet folders
under <spark dir>/<schema>.db/<model>/, which any Parquet reader (DuckDB here) reads back.
For a cluster the profile's method changes (thrift, Spark Connect): docs/deploy.md.
"""

import glob
import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from dagster_project.config import DBT_PROJECT_DIR, DUCKDB_CONFIG
from dagster_project.dbt_manifest import DBT_EXECUTABLE


class SparkBuildFailed(RuntimeError):
    pass


def spark_table(spark_dir: Path, schema: str, name: str) -> str:
    """A glob of the Parquet files of one table Spark built (for read_parquet)."""
    return str(spark_dir / "warehouse" / f"{schema}.db" / name / "*.parquet")


def spark_build_args(lake: Path, spark_dir: Path) -> list[str]:
    """`dbt build` on the spark target over a lake, its tables under spark_dir. The unit
    tests stay with DuckDB (their fixtures are engine-neutral; one run of them is enough)."""
    variables = {"tsdg_lake": str(lake), "tsdg_spark_warehouse": str(spark_dir / "warehouse")}
    return ["build", "--target", "spark", "--exclude-resource-type", "unit_test",
            "--vars", json.dumps(variables)]


def load_into_duckdb(spark_dir: Path, database: Path) -> list[str]:
    """Every table Spark built, into the DuckDB file with DuckDB's own types. First any
    views on DuckDB for real (a view holds no rows to carry over), then every table empty
    (`dbt run --empty`: its columns and types, no rows), then Spark's rows inserted by
    column name. Returns the tables."""
    manifest = json.loads((spark_dir / "target" / "manifest.json").read_text())
    models = [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]
    tables = [(n["schema"], n["name"]) for n in models if n["config"]["materialized"] == "table"]
    views = any(n["config"]["materialized"] == "view" for n in models)
    for extra in ([["--select", "config.materialized:view"]] if views else []) + [
            ["--empty", "--select", "config.materialized:table"]]:
        done = subprocess.run(
            [DBT_EXECUTABLE, "run", "--quiet", *extra, "--vars",
             json.dumps({"tsdg_database": str(database)}),
             "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
             "--target-path", str(spark_dir / "duckdb_target"),
             "--log-path", str(spark_dir / "logs")],
            env={**os.environ, "DO_NOT_TRACK": "1"}, cwd=DBT_PROJECT_DIR,
            capture_output=True, text=True)
        if done.returncode:
            raise SparkBuildFailed(f"dbt run {' '.join(extra)} on DuckDB failed: "
                                   f"{done.stdout[-500:]}")
    with duckdb.connect(str(database), config=DUCKDB_CONFIG) as con:
        con.begin()
        for schema, name in tables:
            files = spark_table(spark_dir, schema, name)
            con.execute(f"delete from {schema}.{name}")
            if glob.glob(files):  # a table with no rows may have no file
                con.execute(f"insert into {schema}.{name} by name "
                            f"select * from read_parquet('{files}')")
        con.commit()
    return [f"{schema}.{name}" for schema, name in tables]


def build_on_spark(lake: Path, spark_dir: Path, progress: Callable[[str], None] = print,
                   select: str | None = None) -> dict[str, str]:
    """`dbt build --target spark` over a lake, outside Dagster (the tests, by hand);
    returns {model or test: status}. Raises SparkBuildFailed, naming the failing nodes, if
    any model errs."""
    spark_dir.mkdir(parents=True, exist_ok=True)
    command = [DBT_EXECUTABLE, *spark_build_args(lake, spark_dir), "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
               "--target-path", str(spark_dir / "target"), "--log-path", str(spark_dir / "logs")]
    if select:
        command += ["--select", select]
    env = {**os.environ, "DO_NOT_TRACK": "1",
           # Spark's own working files (metastore, Derby logs) go with the build, not the cwd
           "SPARK_LOCAL_DIRS": str(spark_dir / "tmp")}
    started = time.monotonic()
    progress(f"dbt build --target spark over {lake} (a local Spark session)")
    with open(spark_dir / "dbt.out", "w", encoding="utf-8") as out:
        code = subprocess.run(command, env=env, cwd=spark_dir, stdout=out,
                              stderr=subprocess.STDOUT).returncode
    results = json.loads((spark_dir / "target" / "run_results.json").read_text())["results"] \
        if (spark_dir / "target" / "run_results.json").exists() else []
    statuses = {r["unique_id"]: r["status"] for r in results}
    failed = sorted(k for k, v in statuses.items() if v in ("error", "fail", "runtime error"))
    progress(f"dbt on Spark: {len(statuses)} nodes in {time.monotonic() - started:.0f} s, "
             f"{len(failed)} failed (log: {spark_dir / 'dbt.out'})")
    if code != 0 and (failed or not statuses):
        raise SparkBuildFailed(f"dbt on Spark failed ({', '.join(failed) or 'see the log'}); "
                               f"log: {spark_dir / 'dbt.out'}")
    return statuses
