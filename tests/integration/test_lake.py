"""The lake (<warehouse>/lake/): the raw tables as Parquet, one folder per family-quarter,
changed only by a published build."""

import hashlib

import duckdb

from dagster_project.lake import PART, _move_quarter, lake_dir
from dagster_project.lib.source_contract import door
from dagster_project.refresh import refresh


def _lake_rows(lake, family: str) -> str:
    return f"read_parquet('{lake}/{family}/*/{PART}', hive_partitioning = true)"


def _digests(lake) -> dict[str, str]:
    return {str(p.relative_to(lake)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(lake.rglob("*")) if p.is_file()}


def test_the_lake_holds_every_row_of_every_raw_table_by_quarter(tiny_refreshed):
    lake = lake_dir(tiny_refreshed.warehouse_dir)
    with duckdb.connect(str(tiny_refreshed.working_database), read_only=True) as con:
        for f in door().families.values():
            # the same rows, column for column (partition_key from the folder's name)
            columns = ", ".join(f'"{c}"' for (c, *_) in con.execute(
                f"describe {f.raw_table}").fetchall())
            lake_rows = f"(select {columns} from {_lake_rows(lake, f.name)})"
            for a, b in ((f.raw_table, lake_rows), (lake_rows, f.raw_table)):
                assert con.execute(f"select count(*) from (from {a} except all from {b})"
                                   ).fetchone()[0] == 0, f.name
        for group, schema, tables in (("_raw", "raw", ("landed_files", "partition_files")),
                                      ("_registry", "registry", ("indicators", "parameters",
                                                                 "flows", "counties"))):
            for table in tables:
                parquet = lake / group / f"{table}.parquet"
                assert con.execute(f"""select count(*) from (from {schema}.{table}
                                   except all from read_parquet('{parquet}'))""").fetchone()[0] == 0
                assert con.execute(f"select count(*) from read_parquet('{parquet}')").fetchone()[0] \
                    == con.execute(f"select count(*) from {schema}.{table}").fetchone()[0]
    person = [f.name for f in door().families.values() if f.person_level]
    # A connection of its own: the module's default one is shared by every test of this
    # process, and one left with an unfinished result (fetchone) refuses the next query.
    with duckdb.connect() as con:
        columns = {c for family in person for (c,) in con.execute(
            f"select name from parquet_schema('{lake}/{family}/*/{PART}')").fetchall()}
    assert "person_key" in columns and not {"national_id", "id_number", "身分證字號"} & columns


def test_a_resubmission_replaces_its_quarter_and_a_blocked_build_changes_nothing(
        copies, release_digest):
    """A resubmitted month rewrites its quarter of the lake alone. Then a defect of the
    warehouse itself — rows no door would let in (a county code outside counties.csv, a
    measure code outside its codelist, as a faulty load would leave) — fails blocking checks
    of the gate: nothing is published, the lake and `latest` stay as they were."""
    lake = lake_dir(copies.warehouse_dir)
    before = _digests(lake)
    resubmitted = copies.sources_dir / "labour_insurance" / "bli_11304.csv"  # 2024-04: 2024Q2
    resubmitted.write_bytes(resubmitted.read_bytes() + b"\n")  # a new vintage, same figures
    code = refresh(copies, progress=lambda _: None)
    assert code == 0
    after = _digests(lake)
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert {k for k in changed if not k.startswith("_")} == {
        f"labour_insurance/partition_key=2024Q2/{PART}"}
    assert "_raw/landed_files.parquet" in changed
    # the quarter holds both vintages (the models take the current one from landed_files)
    with duckdb.connect() as con:
        assert con.execute(f"""select count(distinct file_sha256) from
                           {_lake_rows(lake, 'labour_insurance')} where partition_key = '2024Q2'
                           and source_file like '%bli_11304.csv'""").fetchone()[0] == 2
    assert not list(lake.rglob("*.old")) and not list(
        (copies.warehouse_dir / "builds").glob("*/lake"))

    # A build that ingests a quarter and is then blocked leaves the lake as it was.
    published = release_digest(copies)
    with duckdb.connect(str(copies.working_database)) as con:  # 2024Q3: not re-ingested
        con.execute("""insert into raw.labour_insurance by name
                       select * replace ('99999' as county_code) from raw.labour_insurance
                       where period_month = '2024-08-01' and county_code = '63000'""")
        # and a measure code outside the registry's codelist (checked against registry.codelists)
        con.execute("""insert into raw.labour_insurance by name
                       select * replace ('BOGUS_MEASURE' as measure_code) from raw.labour_insurance
                       where period_month = '2024-09-01' and county_code = '63000' limit 1""")
    resubmitted.write_bytes(resubmitted.read_bytes() + b"\n")
    lines = []
    assert refresh(copies, progress=lines.append) == 1, "\n".join(lines)
    output = "\n".join(lines)
    assert "publication blocked" in output
    assert "county_code in counties.csv" in output
    assert "measure_code in its codelist (registry/sources.yml)" in output
    assert release_digest(copies) == published
    # the release rendered while the build was validated (publish/candidate.py) is gone
    assert sorted(p.name for p in copies.releases_dir.iterdir() if p.name.startswith(".")) == []
    assert _digests(lake) == after
    [failed] = list((copies.warehouse_dir / "failed").iterdir())
    assert (failed / "validation.html").exists()
    assert (failed / "lake" / "labour_insurance" / "partition_key=2024Q2" / PART).is_file()
    assert not list((copies.warehouse_dir / "builds").iterdir())


def test_a_quarter_is_exchanged_whole(tmp_path):
    new, target = tmp_path / "staged" / "partition_key=2024Q1", tmp_path / "lake" / "partition_key=2024Q1"
    for folder, text in ((new, "new"), (target, "old")):
        folder.mkdir(parents=True)
        (folder / PART).write_text(text)
    (target / "part-1.parquet").write_text("old, a file the new quarter does not have")
    _move_quarter(new, target)
    assert sorted(p.name for p in target.iterdir()) == [PART]
    assert (target / PART).read_text() == "new"
    assert not new.exists() and not list(tmp_path.rglob("*.old"))
    fresh = tmp_path / "staged" / "partition_key=2024Q2"
    fresh.mkdir()
    (fresh / PART).write_text("first")
    _move_quarter(fresh, tmp_path / "lake" / "partition_key=2024Q2")
    assert (tmp_path / "lake" / "partition_key=2024Q2" / PART).read_text() == "first"


def test_staged_quarters_are_one_file_each_in_row_order_and_an_empty_quarter_is_empty(tmp_path):
    """stage_partitions: every quarter asked for is one part-0.parquet holding exactly its
    rows, in ROW_ORDER (vintages of one file name by their digest); a quarter with no rows
    left gets an empty file, which replaces what the build staged for it before."""
    from dagster_project.ingest.load import ensure_raw_tables
    from dagster_project.lake import ROW_ORDER, stage_partitions

    family = "labour_insurance"
    table = door().family(family).raw_table
    build = tmp_path / "build"
    stale = build / "lake" / family / "partition_key=2024Q3"
    stale.mkdir(parents=True)
    (stale / PART).write_text("staged by an earlier try")
    with duckdb.connect(str(tmp_path / "b.duckdb")) as con:
        ensure_raw_tables(con)
        # rows inserted out of order: two vintages of one file name, two quarters
        con.execute(f"""insert into {table} (partition_key, source_file, file_sha256,
                            source_row, county_code, measure_code, value)
                        values ('2024Q2', 'b.csv', 'f2', 3, '63000', 'M', 1),
                               ('2024Q1', 'a.csv', 'e1', 2, '63000', 'M', 2),
                               ('2024Q2', 'b.csv', 'f1', 3, '63000', 'M', 3),
                               ('2024Q2', 'a.csv', 'e1', 9, '63000', 'M', 4),
                               ('2024Q2', 'b.csv', 'f1', 2, '63000', 'M', 5)""")
        stage_partitions(con, build, family, ["2024Q1", "2024Q2", "2024Q3"])
        for quarter, values in (("2024Q1", [2]), ("2024Q2", [4, 5, 3, 1]), ("2024Q3", [])):
            folder = build / "lake" / family / f"partition_key={quarter}"
            assert sorted(p.name for p in folder.iterdir()) == [PART], quarter
            rows = con.execute(f"""select value, {ROW_ORDER} from read_parquet(
                                       '{folder / PART}', hive_partitioning = false)""").fetchall()
            assert [r[0] for r in rows] == values, quarter
            columns = [c for (c,) in con.execute(f"select name from parquet_schema('{folder / PART}')"
                                                  ).fetchall()]
            assert "partition_key" not in columns and "value" in columns
    assert sorted(p.name for p in (build / "lake").iterdir()) == [family]  # nothing left over
