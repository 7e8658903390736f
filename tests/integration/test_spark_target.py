"""The same dbt models on Apache Spark (local session) give the DuckDB build's marts: same
rows, same keys, values equal to 1e-9, withheld in both; and `tsdg refresh --engine spark`
publishes the same release. One Spark refresh serves every test here (a Spark session
building every model takes about two minutes of the suite)."""

import json
from types import SimpleNamespace

import duckdb
import pytest

from dagster_project.dbt_manifest import ensure_manifest
from dagster_project.lake import lake_dir
from dagster_project.refresh import refresh

pytestmark = pytest.mark.distributed

KEY = ("indicator_code", "measure", "group_code", "window_start", "as_of")


@pytest.fixture(scope="module")
def spark_refresh(tiny_refreshed, tmp_path_factory):
    """`tsdg refresh --engine spark` of a private copy of the tiny warehouse, a backfill of
    2024Q2: that quarter re-ingested and staged in the build's lake, the others linked; the
    models on Spark over it, their tables loaded into the build, validated and published.
    The copy's working warehouse then holds Spark's rows."""
    from conftest import copy_of

    copies = copy_of(tiny_refreshed, tmp_path_factory.mktemp("spark"))
    before = (copies.releases_dir / "latest").resolve()
    with duckdb.connect(str(copies.working_database), read_only=True) as con:
        staging = {view: con.execute(f"select count(*) from staging.{view}").fetchone()[0]
                   for (view,) in con.execute("select table_name from information_schema.tables "
                                              "where table_schema = 'staging'").fetchall()}
    lines = []
    code = refresh(copies, progress=lines.append, quarters=["2024Q2"], engine="spark")
    return SimpleNamespace(copies=copies, before=before, staging=staging, code=code,
                           lines=lines, after=(copies.releases_dir / "latest").resolve())


def _nodes() -> list[dict]:
    return list(json.loads(ensure_manifest().read_text())["nodes"].values())


def _marts() -> list[str]:
    return sorted(n["name"] for n in _nodes() if n["resource_type"] == "model"
                  and n["config"]["schema"] == "marts")


def test_every_model_and_data_test_passes_on_spark(spark_refresh):
    assert spark_refresh.code == 0, "\n".join(spark_refresh.lines)
    validation = json.loads((spark_refresh.after / "manifest.json").read_text())["validation"]
    assert validation["dbt_engine"] == "spark"
    # the Spark invocation's own results, by status: every model built, every test passed
    nodes = _nodes()
    assert validation["dbt_build"] == {
        "success": sum(n["resource_type"] == "model" for n in nodes),
        "pass": sum(n["resource_type"] == "test" for n in nodes)}


def test_every_mart_on_spark_equals_the_duckdb_build(spark_refresh, tiny_refreshed):
    """Spark's rows (loaded into the copy's build; `load_into_duckdb` refuses a table whose
    columns differ from the model's) against the tiny warehouse's own DuckDB build."""
    assert spark_refresh.code == 0, "\n".join(spark_refresh.lines)
    con = duckdb.connect(str(tiny_refreshed.working_database), read_only=True)
    con.execute(f"attach '{spark_refresh.copies.working_database}' as spark (read_only)")
    marts = _marts()
    assert "indicator_values" in marts and len(marts) >= 6
    for mart in marts:
        spark = f"spark.marts.{mart}"
        columns = con.execute(f"describe marts.{mart}").fetchall()
        assert columns == con.execute(f"describe {spark}").fetchall(), mart
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
    on = " and ".join(f"d.{k} is not distinct from s.{k}" for k in KEY)
    rows = con.execute(f"""
        select count(*), count(s.indicator_code),
               count(*) filter (where d.indicator_value is null),
               count(*) filter (where (d.indicator_value is null) <> (s.indicator_value is null)
                                 or d.is_complete <> s.is_complete
                                 or abs(d.indicator_value - s.indicator_value) > 1e-9
                                 or d.display_value is distinct from s.display_value)
        from marts.indicator_values d left join spark.marts.indicator_values s on {on}""").fetchone()
    total, matched, withheld, different = rows
    # (a withheld figure is NULL in DuckDB: `different` counts one that Spark computed)
    assert total > 4000 and matched == total and different == 0, rows
    con.close()


def test_a_refresh_on_spark_publishes_the_same_release(spark_refresh):
    """Same job, models on Spark over the build's lake, validated and published as ever."""
    assert spark_refresh.code == 0, "\n".join(spark_refresh.lines)
    before, after, copies = spark_refresh.before, spark_refresh.after, spark_refresh.copies
    assert len(spark_refresh.staging) == 5 and min(spark_refresh.staging.values()) > 0
    assert after != before
    files = sorted(p.relative_to(before) for p in (before / "data").iterdir())
    assert len(files) >= 12
    for name in files:  # every table of the release, CSV and Parquet, byte for byte
        assert (after / name).read_bytes() == (before / name).read_bytes(), name
    for name in ("indicators.csv", "indicator_progress.csv", "revisions.csv"):
        assert (after / name).read_bytes() == (before / name).read_bytes(), name
    # the staging tables (what the GX suites check besides the marts) came back whole
    with duckdb.connect(str(copies.working_database), read_only=True) as con:
        assert {v: con.execute(f"select count(*) from staging.{v}").fetchone()[0]
                for v in spark_refresh.staging} == spark_refresh.staging
    # the links the build made to published quarters went with it; the lake holds folders
    lake = lake_dir(copies.warehouse_dir)
    assert not [p for p in lake.rglob("*") if p.is_symlink()]
    assert not list((copies.warehouse_dir / "builds").iterdir())
