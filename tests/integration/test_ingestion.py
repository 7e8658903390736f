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
# How many of the sources' IDs in one binary file make a leak rather than chance (_leaks).
BINARY_LEAK = 3


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


def _leaks(written, sources) -> dict[str, int]:
    """{file: how many of the sources' IDs it holds}, for the files that leak. Case numbers
    and compressed pages can look like IDs by chance: a found ID is an ID-shaped,
    checksum-valid string that is one of the IDs in the sources.

    In a text file (CSV, JSON, HTML, a log) one is a leak. A binary file (DuckDB, Parquet,
    the workbook, the PDF) holds compressed pages whose bytes spell checksum-valid ID-shaped
    strings by chance (fourteen in a scale-1 warehouse file, from the compression symbols of
    its case numbers and dates), and each is one of the scale-1 sample's 2.9 million IDs
    with a chance of about 1 in 180 (of 5.2e8 valid IDs): one such match comes about once in
    twelve runs (N202019010 on 2026-12-03, in no value of any column), two about once in two
    hundred, three about once in five thousand. A stored column or page of IDs holds
    hundreds: there a leak is BINARY_LEAK or more. The callers read every text column's
    values besides, so one ID in a value is found."""
    candidates: dict[str, set] = {}
    text_files = set()
    for path in written:
        data = path.read_bytes()
        if b"\0" not in data[:8192]:
            text_files.add(path)
        for m in ID_PATTERN.findall(data):
            if is_valid(m.decode()):
                candidates.setdefault(m.decode(), set()).add(path)
    by_file: dict = {}
    for found in _ids_in_sources(sources, set(candidates)):
        for path in candidates[found]:
            by_file.setdefault(path, set()).add(found)
    return {str(path): len(ids) for path, ids in by_file.items()
            if path in text_files or len(ids) >= BINARY_LEAK}


def test_no_national_id_in_the_warehouse_or_any_written_file(refreshed):
    written = [p for p in refreshed.warehouse_dir.rglob("*") if p.is_file()]
    assert any(p.name == "tsdg.duckdb" for p in written)
    assert any(p.name == "indicators.csv" for p in written)
    leaks = _leaks(written, refreshed.sources_dir)
    assert leaks == {}, leaks  # files and how many IDs, never the IDs
    # the database files may compress strings, so also look inside every text column, of the
    # warehouse and of the release
    for database in (refreshed.database, refreshed.releases_dir / "latest" / "release.duckdb"):
        with duckdb.connect(str(database), read_only=True) as con:
            columns = con.sql("""select table_schema, table_name, column_name
                                 from information_schema.columns
                                 where data_type in ('VARCHAR', 'VARCHAR[]')
                                 and column_name not in ('case_id', 'course_id')""").fetchall()
            assert len(columns) > 20
            for schema, table, column in columns:
                hits = con.sql(f"""select count(*) from "{schema}"."{table}"
                                   where regexp_matches(cast("{column}" as varchar),
                                                        '[A-Z][1289][0-9]{{8}}')""").fetchall()[0][0]
                assert hits == 0, f"{database.name}: {schema}.{table}.{column}"


def test_the_leak_scan_would_find_a_leak(refreshed, tmp_path):
    """The scan above can fail: an ID copied from a source file is found."""
    from dagster_project.ingest.files import decode

    roster = next((refreshed.sources_dir / "training_rosters").iterdir())
    real_id = ID_PATTERN.search(decode(roster, roster.read_bytes()).encode()).group().decode()
    assert is_valid(real_id)
    assert _ids_in_sources(refreshed.sources_dir, {real_id, "A123456789"}) == {real_id}
    # one in a text file is a leak; in a binary file, BINARY_LEAK are (fewer: what chance
    # spells in compressed pages)
    ids = sorted({m.decode() for m in ID_PATTERN.findall(
        decode(roster, roster.read_bytes()).encode()) if is_valid(m.decode())})[:BINARY_LEAK]
    assert len(ids) == BINARY_LEAK
    (tmp_path / "report.txt").write_text(f"row 2: {ids[0]} refused\n", encoding="utf-8")
    (tmp_path / "fewer.bin").write_bytes(b"\0\1" + "".join(ids[:-1]).encode() + b"\0")
    (tmp_path / "page.bin").write_bytes(b"\0\1" + "".join(ids).encode() + b"\0")
    assert _leaks(sorted(tmp_path.iterdir()), refreshed.sources_dir) == {
        str(tmp_path / "report.txt"): 1, str(tmp_path / "page.bin"): BINARY_LEAK}
