"""One bad row of any kind in a person-level file: the file is quarantined, the release
still publishes, and none of the sources' IDs is at rest anywhere but in the quarantined
original — not in reports, the run's output, the manifest, or any table of any DuckDB file
(the release included)."""

import json
from pathlib import Path

import pytest
from leak_scan import is_quarantined_original, leaks, source_ids, tokens_in_parquet

from dagster_project.ingest.files import decode
from dagster_project.refresh import refresh


def _cells(line: str) -> list[str]:
    return line.split(",")


def _with_cell(lines, header, column, value):
    row = _cells(lines[1])
    row[header.index(column)] = value
    return [lines[0], ",".join(row), *lines[2:]]


def _insert_after(lines, header, column, text):
    row = _cells(lines[1])
    row[header.index(column)] += text
    return [lines[0], ",".join(row), *lines[2:]]


# Each kind of bad row, as a change to the file's lines (header first, then data rows).
BAD_ROWS = {
    "extra comma after the ID": lambda rows, h: _insert_after(rows, h, "身分證統一編號", ","),
    "ID with a wrong check digit": lambda rows, h: _with_cell(
        rows, h, "身分證統一編號", (lambda i: i[:-1] + str((int(i[-1]) + 1) % 10))(
            _cells(rows[1])[h.index("身分證統一編號")])),
    "impossible birth date": lambda rows, h: _with_cell(rows, h, "出生日期", "113/02/30"),
    "unknown county": lambda rows, h: _with_cell(rows, h, "戶籍縣市", "火星市"),
    "unknown target group": lambda rows, h: _with_cell(rows, h, "特定對象身分", "施用毒品者、外星人"),
    "unbalanced quote": lambda rows, h: _insert_after(rows, h, "出生日期", '"'),
    "NUL byte in a row": lambda rows, h: _insert_after(rows, h, "戶籍縣市", "\x00"),
    "5,000-character cell": lambda rows, h: _with_cell(rows, h, "分署代碼", "T" * 5000),
    "blank ID": lambda rows, h: _with_cell(rows, h, "身分證統一編號", ""),
    "header missing": lambda rows, h: rows[1:],
    "row of another branch": lambda rows, h: _with_cell(rows, h, "分署代碼", "Z"),
}
FAMILIES = ("training_rosters", "employment_services")


@pytest.fixture(scope="module")
def poisoned(tiny_refreshed, tmp_path_factory):
    """Every kind of bad row planted in a resubmission of a loaded file of each
    person-level family (a different file each), then one real refresh."""
    from conftest import copy_of

    s = copy_of(tiny_refreshed, tmp_path_factory.mktemp("poisoned"))
    planted = {}
    for family in FAMILIES:
        files = sorted((s.sources_dir / family).glob("*_11[34]Q*_*.csv"))
        for (kind, change), path in zip(BAD_ROWS.items(), files, strict=False):
            lines = decode(path, path.read_bytes()).splitlines()
            header = [h.lstrip("\ufeff") for h in _cells(lines[0])]
            path.unlink()  # a resubmission: a new file with the same name
            path.write_text("\n".join(change(lines, header)) + "\n", encoding="utf-8")
            planted[path.name] = kind
    ids = source_ids(s.sources_dir)
    before = (s.releases_dir / "latest").resolve()
    output = []
    code = refresh(s, progress=output.append)
    return s, planted, ids, before, code, "\n".join(output)


def test_every_bad_file_is_quarantined_and_a_new_release_publishes(poisoned):
    s, planted, _, before, code, output = poisoned
    assert code == 0, output
    assert (s.releases_dir / "latest").resolve() != before
    assert len(planted) == 2 * len(BAD_ROWS)
    quarantined = {line.split()[1].rstrip(":") for line in output.splitlines()
                   if line.startswith("QUARANTINED ") and ".csv:" in line}
    assert quarantined == set(planted), output


def test_no_source_id_at_rest_outside_the_quarantined_originals(poisoned):
    s, _, ids, _, _, output = poisoned
    assert len(ids) > 10_000
    assert leaks(s.warehouse_dir, ids, is_quarantined_original) == {}
    assert not {i for i in ids if i in output}
    # ... while the originals themselves (the one place they may rest) do hold them
    originals = [p for p in (s.warehouse_dir / "quarantine").rglob("*")
                 if p.is_file() and is_quarantined_original(p)]
    assert len(originals) == 2 * len(BAD_ROWS)
    assert all(p.stat().st_mode & 0o077 == 0 for p in originals)
    assert (s.warehouse_dir / "quarantine").stat().st_mode & 0o077 == 0


def test_reports_name_row_and_column_and_quote_no_cell(poisoned):
    s, planted, _, _, _, _ = poisoned
    reports = list((s.warehouse_dir / "quarantine").rglob("*.report.json"))
    assert {json.loads(r.read_text(encoding="utf-8"))["file"] for r in reports} == set(planted)
    for report in reports:
        problems = json.loads(report.read_text(encoding="utf-8"))["problems"]
        assert problems, report.name
        for p in problems:
            assert p["rule"] and p["column"]
            # Only the office's branch code may be quoted for a person-level file.
            assert p["value"] == "" or p["column"] == "分署代碼", (report.name, p)
        text = report.with_suffix(".txt").read_text(encoding="utf-8")
        for personal in ("火星市", "外星人", "113/02/30"):
            assert personal not in text and personal not in report.read_text(encoding="utf-8")


def test_the_published_release_says_only_name_sender_period_and_rule(poisoned):
    s, planted, _, _, _, _ = poisoned
    import duckdb

    release = (s.releases_dir / "latest").resolve()
    with duckdb.connect(str(release / "release.duckdb"), read_only=True) as con:
        reasons = dict(con.sql("""select file_name, state_reason from marts.submission_files
                                  where state = 'quarantined'""").fetchall())
    assert set(planted) <= set(reasons)
    for name in planted:
        assert ": value " not in reasons[name] and "column" in reasons[name], reasons[name]
    manifest = (release / "manifest.json").read_text(encoding="utf-8")
    for personal in ("火星市", "外星人", "113/02/30"):
        assert personal not in manifest


def test_the_scan_would_find_a_leak(poisoned, tmp_path):
    """The scan can fail: an ID of the sources written to a file or a table is found."""
    import duckdb

    s, _, ids, _, _, _ = poisoned
    some = sorted(ids)[0]
    (tmp_path / "log.txt").write_text(f"row 2: {some.lower()}\n")
    with duckdb.connect(str(tmp_path / "x.duckdb")) as con:
        con.execute("create table t as select ? as reason", [f"value '{some}'"])
        # in the lake: any text column of a Parquet file, a struct's field included, is
        # queried (compressed pages hide IDs from a byte scan)
        for name, second, struct in (("second.parquet", some.lower(), "none"),
                                     ("struct.parquet", "none", some)):
            con.execute(f"""copy (select 1 as n, 'none' as first, '{second}' as second,
                                         {{'inner': '{struct}'}} as s)
                            to '{tmp_path / name}' (format parquet, compression zstd)""")
    found = leaks(tmp_path, ids)
    assert set(found) == {"log.txt", "x.duckdb", "second.parquet", "struct.parquet"}
    assert Path(tmp_path / "x.duckdb").exists()
    with duckdb.connect() as reader:
        for name in ("second.parquet", "struct.parquet"):
            assert tokens_in_parquet(reader, tmp_path / name) == {some}, name


def test_raw_ids_live_only_in_a_database_in_memory_that_cannot_spill():
    """A byte of a file written by a process that held raw IDs can carry one (a column
    segment's slack; a block spilled to the temp directory): the one DuckDB that reads a
    person-level file has no file and nowhere to spill, and what it frees is overwritten."""
    import duckdb

    from dagster_project.ingest.person_level import _door_database
    from dagster_project.lib.freed_memory import scrubbing

    with _door_database() as door_con:
        assert scrubbing()
        [(path,)] = door_con.execute("select path from duckdb_databases() "
                                     "where not internal").fetchall()
        assert path is None  # in memory
        assert door_con.execute("select current_setting('temp_directory')").fetchone() == ("",)
        door_con.execute("set memory_limit = '32MB'")
        with pytest.raises(duckdb.OutOfMemoryException):  # refused, not written to disk
            door_con.execute("create table t as select md5(i::varchar) || md5((i + 1)::varchar) "
                             "as k from range(3000000) r(i) order by k")
    assert not scrubbing()
