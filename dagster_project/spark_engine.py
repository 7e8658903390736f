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
                same_columns(con, f"{schema}.{name}", files)
                con.execute(f"insert into {schema}.{name} by name "
                            f"select * from read_parquet('{files}')")
        con.commit()  # not reached if a table differs: nothing of Spark's is loaded
    return [f"{schema}.{name}" for schema, name in tables]


def same_columns(con: duckdb.DuckDBPyConnection, table: str, files: str) -> None:
    """Spark's table has exactly the columns of the model as DuckDB builds it. `insert by
    name` would fill a column Spark left out with NULL without a word."""
    ours = {c for c, *_ in con.execute(f"describe {table}").fetchall()}
    spark = {c for c, *_ in con.execute(f"describe select * from read_parquet('{files}')").fetchall()}
    if ours != spark:
        missing, extra = sorted(ours - spark), sorted(spark - ours)
        raise SparkBuildFailed(f"{table}: Spark built other columns than the model's on "
                               f"DuckDB (missing: {', '.join(missing) or 'none'}; "
                               f"extra: {', '.join(extra) or 'none'})")
