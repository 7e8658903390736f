"""Any single hostile file — a 5 MB field, a zip bomb, a link to /etc/passwd, a named pipe,
a folder — and whatever else a sender drops (an Excel lock file, an .xls, a period outside
the warehouse, another family's file, a file one folder too high) is quarantined unread or refused before parsing; `tsdg refresh` exits 0 with a
new release whose every figure equals the previous one (each entry only resubmits what is
already loaded), and nothing of a link's target reaches a report or the release."""

import io
import os
import zipfile

import duckdb
import pytest

from dagster_project.refresh import refresh


def _zip_bomb() -> bytes:
    """A small workbook whose worksheet inflates past the registry's limit."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
        z.writestr("xl/worksheets/sheet1.xml", b"<sheetData>" + b"<row/>" * 12_000_000)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def hostile(tiny_refreshed, tmp_path_factory):
    from conftest import copy_of

    s = copy_of(tiny_refreshed, tmp_path_factory.mktemp("hostile"))
    county = s.sources_dir / "county_submissions"
    li = s.sources_dir / "labour_insurance"
    entries = {}
    # a resubmitted labour-insurance month with one 5,000,000-character field
    month = li / "bli_11304.csv"
    text = month.read_bytes().decode("utf-8-sig", errors="replace").splitlines()
    cells = text[1].split(",")
    cells[-1] = "9" * 5_000_000
    month.unlink()
    month.write_text("\n".join([text[0], ",".join(cells), *text[2:]]) + "\n", encoding="utf-8")
    entries[month.name] = "field larger than"
    # a 'county workbook' that is a zip bomb (the county's real file stays as it was)
    bomb = county / "65000_113Q2.xlsx"
    for old in county.glob("65000_113Q2.*"):
        old.rename(old.with_suffix(old.suffix + ".kept"))  # out of the pattern for now
    bomb.write_bytes(_zip_bomb())
    entries[bomb.name] = "unpacks to"
    # a link named like a county file, pointing outside the landing area
    link = county / "66000_113Q2.csv"
    for old in county.glob("66000_113Q2.*"):
        old.rename(old.with_suffix(old.suffix + ".kept"))
    link.symlink_to("/etc/passwd")
    entries[link.name] = "symbolic link"
    # a named pipe (reading it would block the run) and a folder of a county's own making
    os.mkfifo(li / "bli_11305.csv.pipe")
    entries["bli_11305.csv.pipe"] = "named pipe"
    (county / "2024").mkdir()
    (county / "2024" / "64000_113Q3.csv").write_text("縣市\n")
    entries["2024"] = "folder"
    # what senders really drop beside their files: each gets a verdict, none is skipped
    odd = {"~$65000_113Q1.xlsx": (b"lock", "Excel lock file"),
           "65000_113Q1.xls": (b"\xd0\xcf\x11\xe0", "save it as .xlsx"),
           "63000_130Q1.csv": ("縣市\n".encode(), "(2041Q1) is after the current quarter"),
           "63000_100Q1.csv": ("縣市\n".encode(), "(2011Q1) is before the first quarter"),
           "roster_113Q2_T.csv": ("分署代碼\n".encode(), "move it to the training_rosters folder")}
    for name, (data, rule) in odd.items():
        (county / name).write_bytes(data)
        entries[name] = rule
    (s.sources_dir / "64000_113Q3.csv").write_bytes("縣市\n".encode())
    entries["64000_113Q3.csv"] = "top folder of the landing area: move it to the county_submissions"
    # the set-aside originals go back (a re-landing of loaded content changes nothing),
    # except where a hostile entry now holds their name (the sample writes a county's file
    # as .csv or .xlsx, by its plan): that submission simply stays as loaded before
    for kept in county.glob("*.kept"):
        target = kept.with_suffix("")
        if target.exists() or target.is_symlink():
            kept.unlink()
        else:
            kept.rename(target)
    before = (s.releases_dir / "latest").resolve()
    output = []
    code = refresh(s, progress=output.append)
    return s, entries, before, code, "\n".join(output)


def test_refresh_publishes_with_only_the_hostile_entries_quarantined(hostile):
    s, entries, before, code, output = hostile
    assert code == 0, output
    after = (s.releases_dir / "latest").resolve()
    assert after != before
    with duckdb.connect(str(after / "release.duckdb"), read_only=True) as con:
        refused = dict(con.sql("""select file_name, state_reason from marts.submission_files
                                  where state = 'quarantined'""").fetchall())
    assert set(refused) == set(entries), output
    for name, rule in entries.items():
        assert rule in refused[name], (name, refused[name])
        assert not (s.sources_dir / "county_submissions" / name).is_symlink()


def test_every_entry_has_exactly_one_visible_verdict(hostile):
    """No silent skips: each odd entry is one quarantined row of raw.landed_files, one
    line of the run's output, and gone from where it was dropped."""
    s, entries, _, _, output = hostile
    with duckdb.connect(str(s.working_database), read_only=True) as con:
        rows = con.sql("""select file_name, count(*), any_value(period) from raw.landed_files
                          where state = 'quarantined' group by 1""").fetchall()
    verdicts = {name: (n, period) for name, n, period in rows}
    for name in entries:
        assert verdicts[name][0] == 1, name
        assert output.count(f"QUARANTINED {name}: ") == 1, name
    for name in ("63000_130Q1.csv", "63000_100Q1.csv"):
        assert verdicts[name][1] is None  # a period outside the warehouse is never expected
    assert not (s.sources_dir / "64000_113Q3.csv").exists()


def test_every_figure_equals_the_previous_release(hostile):
    s, _, before, _, _ = hostile
    after = (s.releases_dir / "latest").resolve()
    query = """select indicator_code, measure, group_code, window_start, as_of,
                      indicator_value, is_complete from marts.indicator_values order by all"""
    with duckdb.connect(str(before / "release.duckdb"), read_only=True) as con:
        old = con.sql(query).fetchall()
    with duckdb.connect(str(after / "release.duckdb"), read_only=True) as con:
        new = con.sql(query).fetchall()
    assert len(new) > 1000 and new == old


def test_nothing_of_a_links_target_is_read_or_quoted(hostile):
    s, _, _, _, output = hostile
    marker = open("/etc/passwd", encoding="utf-8").readline().split(":")[0] + ":x:"
    assert marker not in output
    for path in s.warehouse_dir.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.suffix in (".json", ".txt", ".csv"):
            assert marker not in path.read_text(encoding="utf-8", errors="replace"), path
    moved = [p for p in (s.warehouse_dir / "quarantine").rglob("66000_113Q2.csv")]
    assert moved and moved[0].is_symlink()  # the link itself was moved aside, unread
