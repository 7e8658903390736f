"""The same dbt models on Apache Spark (local session) over the tiny warehouse's lake give
the DuckDB build's marts: same rows, same keys, values equal to 1e-9, withheld in both."""

import json

import duckdb
import pytest

from dagster_project.dbt_manifest import ensure_manifest
from dagster_project.lake import lake_dir
from dagster_project.refresh import refresh
from dagster_project.spark_engine import build_on_spark, spark_table

pytestmark = pytest.mark.distributed

KEY = ("indicator_code", "measure", "group_code", "window_start", "as_of")


@pytest.fixture(scope="module")
def spark_build(tiny_refreshed, tmp_path_factory):
    spark_dir = tmp_path_factory.mktemp("spark")
    statuses = build_on_spark(lake_dir(tiny_refreshed.warehouse_dir), spark_dir,
                              progress=lambda _: None)
    return spark_dir, statuses


def _marts() -> list[str]:
    nodes = json.loads(ensure_manifest().read_text())["nodes"].values()
    return sorted(n["name"] for n in nodes if n["resource_type"] == "model"
                  and n["config"]["schema"] == "marts")


def test_every_model_and_data_test_passes_on_spark(spark_build):
    _, statuses = spark_build
    models = {k: v for k, v in statuses.items() if k.startswith("model.")}
    tests = {k: v for k, v in statuses.items() if k.startswith("test.")}
    nodes = json.loads(ensure_manifest().read_text())["nodes"].values()
    assert len(models) == sum(n["resource_type"] == "model" for n in nodes)
    assert set(models.values()) == {"success"}
    assert len(tests) == sum(n["resource_type"] == "test" for n in nodes)
    assert set(tests.values()) == {"pass"}, {k: v for k, v in tests.items() if v != "pass"}


def test_every_mart_on_spark_equals_the_duckdb_build(spark_build, tiny_refreshed):
    spark_dir, _ = spark_build
    con = duckdb.connect(str(tiny_refreshed.working_database), read_only=True)
    marts = _marts()
    assert "indicator_values" in marts and len(marts) >= 6
    for mart in marts:
        spark = f"read_parquet('{spark_table(spark_dir, 'marts', mart)}')"
        columns = con.execute(f"describe marts.{mart}").fetchall()
        assert {c for c, *_ in columns} == {c for c, *_ in con.execute(
            f"describe select * from {spark}").fetchall()}, mart
        # doubles to 1e-9; everything else exactly, in both directions, duplicates counted
        select = ", ".join(f"round({c}, 9)" if kind == "DOUBLE" else c
                           for c, kind, *_ in columns)
        for a, b in ((f"marts.{mart}", spark), (spark, f"marts.{mart}")):
            extra = con.execute(f"select count(*) from (select {select} from {a} "
                                f"except all select {select} from {b})").fetchone()[0]
            assert extra == 0, f"{mart}: {extra} row(s) of {a} not in {b}"
        assert con.execute(f"select count(*) from {spark}").fetchone() == con.execute(
            f"select count(*) from marts.{mart}").fetchone()

    # Indicator values by key: every figure, withheld figures withheld in both.
    spark = f"read_parquet('{spark_table(spark_dir, 'marts', 'indicator_values')}')"
    on = " and ".join(f"d.{k} is not distinct from s.{k}" for k in KEY)
    rows = con.execute(f"""
        select count(*), count(s.indicator_code),
               count(*) filter (where d.indicator_value is null),
               count(*) filter (where (d.indicator_value is null) <> (s.indicator_value is null)
                                 or d.is_complete <> s.is_complete
                                 or abs(d.indicator_value - s.indicator_value) > 1e-9
                                 or d.display_value is distinct from s.display_value)
        from marts.indicator_values d left join {spark} s on {on}""").fetchone()
    total, matched, withheld, different = rows
    # (a withheld figure is NULL in DuckDB: `different` counts one that Spark computed)
    assert total > 4000 and matched == total and different == 0, rows
    con.close()


def test_a_refresh_on_spark_publishes_the_same_release(copies):
    """`tsdg refresh --engine spark`: same job, models on Spark over the build's lake (its
    re-ingested quarter staged, the others linked), validated and published as ever."""
    before = (copies.releases_dir / "latest").resolve()
    staging = {}
    with duckdb.connect(str(copies.working_database), read_only=True) as con:
        for (view,) in con.execute("select table_name from information_schema.tables "
                                   "where table_schema = 'staging'").fetchall():
            staging[view] = con.execute(f"select count(*) from staging.{view}").fetchone()[0]
    assert len(staging) == 5 and min(staging.values()) > 0
    lines = []
    assert refresh(copies, progress=lines.append, quarters=["2024Q2"], engine="spark") == 0, \
        "\n".join(lines)
    after = (copies.releases_dir / "latest").resolve()
    assert after != before
    assert json.loads((after / "manifest.json").read_text())["validation"]["dbt_engine"] \
        == "spark"
    files = sorted(p.relative_to(before) for p in (before / "data").iterdir())
    assert len(files) >= 12
    for name in files:  # every table of the release, CSV and Parquet, byte for byte
        assert (after / name).read_bytes() == (before / name).read_bytes(), name
    for name in ("indicators.csv", "indicator_progress.csv", "revisions.csv"):
        assert (after / name).read_bytes() == (before / name).read_bytes(), name
    # the staging tables (what the GX suites check besides the marts) came back whole
    with duckdb.connect(str(copies.working_database), read_only=True) as con:
        assert {v: con.execute(f"select count(*) from staging.{v}").fetchone()[0]
                for v in staging} == staging
    # the links the build made to published quarters went with it; the lake holds folders
    lake = lake_dir(copies.warehouse_dir)
    assert not [p for p in lake.rglob("*") if p.is_symlink()]
    assert not list((copies.warehouse_dir / "builds").iterdir())
