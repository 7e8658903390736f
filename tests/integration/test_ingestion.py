"""Ingestion against the real sample, through Dagster materializations."""

import hashlib
import re

import duckdb
import pytest

from dagster_project.lib.national_id import is_valid
from dagster_project.lib.source_contract import family_names

# The scale-1 proof: one shared scale-1 build that no test writes to.
pytestmark = pytest.mark.e2e

ID_PATTERN = re.compile(rb"[A-Z][1289][0-9]{8}")


def _con(s):
    return duckdb.connect(str(s.database), read_only=True)


def test_rows_per_partition_equal_what_the_generator_wrote(refreshed, sample):
    _, manifest = sample
    with _con(refreshed) as con:
        for family in family_names():
            got = dict(con.sql(f"select partition_key, count(*) from raw.{family} group by 1").fetchall())
            want = {k.split("/")[1]: v for k, v in manifest["rows_per_partition"].items()
                    if k.startswith(family + "/")}
            assert got == want, family


def test_records_after_deduplication_equal_the_generated_records(refreshed, sample):
    _, manifest = sample
    staged = {
        "training_rosters": "staging.stg_training__enrolments",
        "employment_services": "staging.stg_employment__episodes",
        "labour_insurance": "staging.stg_labour_insurance__county_counts",
        "county_submissions": "staging.stg_county__submissions",
        "programme_tallies": "staging.stg_tallies__monthly",
    }
    with _con(refreshed) as con:
        for family, model in staged.items():
            n = con.sql(f"select count(*) from {model}").fetchall()[0][0]
            assert n == manifest["distinct_records"][family], family
        # repeated enrolments were reported with their later state
        repeated = con.sql("""select count(*) from (select person_key, course_id from raw.training_rosters
                              group by all having count(*) > 1)""").fetchall()[0][0]
        assert repeated > 100_000


def _table_digest(s, family, partition=None):
    where = f"where partition_key = '{partition}'" if partition else ""
    with _con(s) as con:
        rows = con.sql(f"select * from raw.{family} {where} order by source_file, source_row").fetchall()
    return hashlib.sha256(repr(rows).encode()).hexdigest(), len(rows)


def _ids_in_sources(sources, candidates: set[str]) -> set[str]:
    """Which of `candidates` occur in the landed person-level files."""
    from dagster_project.ingest.files import decode

    found = set()
    for folder in ("training_rosters", "employment_services"):
        for path in (sources / folder).iterdir():
            text = decode(path, path.read_bytes())
            found |= {c for c in candidates if c in text}
    return found


def test_no_national_id_in_the_warehouse_or_any_written_file(refreshed):
    written = [p for p in refreshed.warehouse_dir.rglob("*") if p.is_file()]
    assert any(p.name == "tsdg.duckdb" for p in written)
    assert any(p.name == "indicators.csv" for p in written)
    # Case numbers and compressed pages can look like IDs by chance: a leak is an
    # ID-shaped, checksum-valid string that is one of the IDs in the sources.
    candidates = {}
    for path in written:
        for m in ID_PATTERN.findall(path.read_bytes()):
            if is_valid(m.decode()):
                candidates.setdefault(m.decode(), path)
    leaked = _ids_in_sources(refreshed.sources_dir, set(candidates))
    assert leaked == set(), [str(candidates[c]) for c in leaked]
    # the database file may compress strings, so also look inside every text column
    with _con(refreshed) as con:
        columns = con.sql("""select table_schema, table_name, column_name from information_schema.columns
                             where data_type in ('VARCHAR', 'VARCHAR[]')
                             and column_name not in ('case_id', 'course_id')""").fetchall()
        assert len(columns) > 20
        for schema, table, column in columns:
            hits = con.sql(f"""select count(*) from "{schema}"."{table}"
                               where regexp_matches(cast("{column}" as varchar), '[A-Z][1289][0-9]{{8}}')""").fetchall()[0][0]
            assert hits == 0, f"{schema}.{table}.{column}"


def test_the_leak_scan_would_find_a_leak(refreshed, tmp_path):
    """The scan above can fail: an ID copied from a source file is found."""
    from dagster_project.ingest.files import decode

    roster = next((refreshed.sources_dir / "training_rosters").iterdir())
    real_id = ID_PATTERN.search(decode(roster, roster.read_bytes()).encode()).group().decode()
    assert is_valid(real_id)
    assert _ids_in_sources(refreshed.sources_dir, {real_id, "A123456789"}) == {real_id}
