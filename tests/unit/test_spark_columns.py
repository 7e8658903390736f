"""A table Spark built is loaded into the DuckDB build only if it has exactly the model's
columns: `insert by name` alone would fill a column Spark left out with NULL."""

import duckdb
import pytest

from dagster_project.spark_engine import SparkBuildFailed, same_columns


def test_spark_columns_in_another_order_load_and_other_columns_are_refused(tmp_path):
    with duckdb.connect() as con:
        con.execute("create schema marts")
        con.execute("create table marts.t (a integer, b varchar)")
        con.execute(f"copy (select 'x' as b, 1 as a) to '{tmp_path / 'same.parquet'}' (format parquet)")
        con.execute(f"copy (select 1 as a, 'x' as c) to '{tmp_path / 'other.parquet'}' (format parquet)")
        same_columns(con, "marts.t", str(tmp_path / "same.parquet"))
        with pytest.raises(SparkBuildFailed) as refused:
            same_columns(con, "marts.t", str(tmp_path / "other.parquet"))
    assert str(refused.value) == ("marts.t: Spark built other columns than the model's on DuckDB "
                                  "(missing: b; extra: c)")
