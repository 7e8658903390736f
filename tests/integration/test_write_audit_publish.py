"""Validate before publishing: real refreshes (Dagster, dbt, GX) on copies of the session's
sample and warehouse, each with one kind of damage (the door's refusals share one refresh)."""

import csv
import json
import os
import shutil
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import duckdb
import pytest
from openpyxl import load_workbook

from dagster_project.config import settings
from dagster_project.ingest.files import decode
from dagster_project.lib.text_normalise import parse_count
from dagster_project.publish.release import NotValidated, commit, publish, render, require_pass
from dagster_project.refresh import _standing_release, refresh, refresh_lock


def _refresh(s) -> tuple[int, str]:
    lines = []
    code = refresh(s, progress=lines.append)
    return code, "\n".join(lines)


def _rewrite_csv(path, edit):
    """Edit a landed CSV's text (whatever its encoding) and write it back as UTF-8."""
    text = decode(path, path.read_bytes())
    path.write_text(edit(text), encoding="utf-8")


def _figures(s) -> list[tuple]:
    with duckdb.connect(str(s.releases_dir / "latest" / "release.duckdb"), read_only=True) as con:
        return con.sql("""select indicator_code, measure, group_code, window_start, as_of,
                                 indicator_value, is_complete
                          from marts.indicator_values order by all""").fetchall()


@pytest.fixture(scope="module")
def refused_at_the_door(tiny_refreshed, tmp_path_factory):
    """One refresh of a private copy carrying three defects the door refuses: a county
    workbook breaking a within-row rule, a labour-insurance month missing a county and
    another with a negative count."""
    from conftest import copy_of

    copies = copy_of(tiny_refreshed, tmp_path_factory.mktemp("door"))
    previous, figures = (copies.releases_dir / "latest").resolve(), _figures(copies)
    workbook = next(p for p in sorted((copies.sources_dir / "county_submissions").glob("*_113Q2.xlsx")))
    wb = load_workbook(workbook)
    ws = wb["填報表"]
    header_row = next(r for r in ws.iter_rows() if r[0].value == "縣市")
    data = ws[header_row[0].row + 1]
    data[4].value = str(parse_count(data[3].value) + 5)  # 社勞政聯合服務人數 > 有就業意願轉介人數
    wb.save(workbook)

    li = copies.sources_dir / "labour_insurance"
    _rewrite_csv(li / "bli_11203.csv",
                 lambda t: "\n".join(line for line in t.splitlines()
                                      if "臺東縣" not in line and "台東縣" not in line))

    def negative_deaths(text):
        lines = text.splitlines()
        i = next(i for i, line in enumerate(lines) if ",OA_DEATHS," in line)
        lines[i] = lines[i].split(",OA_DEATHS,")[0] + ",OA_DEATHS,-5"
        return "\n".join(lines)
    _rewrite_csv(li / "bli_11304.csv", negative_deaths)
    code, output = _refresh(copies)
    assert code == 0, output
    return copies, previous, figures, workbook, header_row[0].row + 1, output


def test_a_county_workbook_breaking_a_within_row_rule_is_refused_at_the_door(refused_at_the_door):
    _, _, _, workbook, row, output = refused_at_the_door
    assert (f"QUARANTINED {workbook.name}: sheet 填報表, row {row}, column 社勞政聯合服務人數: "
            f"社勞政聯合服務人數 cannot exceed 有就業意願轉介人數") in output
    assert not workbook.exists()


def test_a_month_missing_a_county_and_a_negative_count_are_refused_at_the_door(refused_at_the_door):
    copies, _, _, _, _, output = refused_at_the_door
    li = copies.sources_dir / "labour_insurance"
    assert "QUARANTINED bli_11203.csv: column 縣市: no row for 臺東縣 in measure" in output
    assert "QUARANTINED bli_11304.csv: row " in output
    assert "column 數值: a count cannot be negative" in output
    assert not (li / "bli_11203.csv").exists() and not (li / "bli_11304.csv").exists()


def test_files_refused_at_the_door_leave_a_new_release_with_every_figure_as_before(refused_at_the_door):
    """Each refused file's submission keeps its earlier vintage: a new release, every figure
    as before, no build left behind."""
    copies, previous, figures, *_ = refused_at_the_door
    assert (copies.releases_dir / "latest").resolve() != previous
    assert _figures(copies) == figures
    assert not list((copies.warehouse_dir / "builds").iterdir())


# A defect of the warehouse itself (rows no door would let in) blocking publication, the
# lake and `latest` unchanged: test_lake.py, on the blocked build it shares.


def test_publishing_without_a_passing_validation_is_refused(copies, tmp_path, release_digest):
    results = tmp_path / "validation.json"
    with pytest.raises(NotValidated, match="no validation results"):
        require_pass(results, "run-1")
    results.write_text('{"run_id": "run-0", "passed": true}')
    with pytest.raises(NotValidated, match="not from this run"):
        require_pass(results, "run-1")
    results.write_text('{"run_id": "run-1", "passed": false, "errors": 2}')
    with pytest.raises(NotValidated, match="2 blocking error"):
        require_pass(results, "run-1")
    before = release_digest(copies)
    with pytest.raises(NotValidated):
        publish(copies.database, copies.releases_dir, {"passed": False})
    assert release_digest(copies) == before
    # a release rendered before its validation ended (publish/candidate.py): not committed
    # without a pass, and its hidden folder removed
    rendered = render(copies.database, copies.releases_dir)
    assert rendered.building.is_dir() and (rendered.building / "release.xlsx").is_file()
    for refused in ({"passed": False}, {"errors": 3}, {"passed": "yes"}):
        with pytest.raises(NotValidated):
            commit(rendered, refused)
        assert not rendered.building.exists()
    assert release_digest(copies) == before
    assert not [p for p in copies.releases_dir.iterdir() if p.name.startswith(".")]


def test_a_second_refresh_is_refused_while_one_runs(copies):
    with refresh_lock(copies):
        code, output = _refresh(copies)
    assert code == 3
    assert "another refresh is running" in output


def _landed(s) -> list[tuple]:
    with duckdb.connect(str(s.working_database), read_only=True) as con:
        return con.sql("""select family, file_name, file_sha256, vintage, state, loaded_at
                          from raw.landed_files order by all""").fetchall()


def test_relanding_is_a_no_op_and_a_resubmission_is_a_new_vintage(copies, tmp_path):
    submission = next((copies.sources_dir / "county_submissions").glob("10014_113Q3.*"))
    # 1. The same file landed again (new modification time, same bytes): nothing changes,
    # and nothing runs: the latest release was built from the same files, registry, models,
    # checks and code, today.
    before = _landed(copies)
    releases = sorted(copies.releases_dir.iterdir())
    submission.write_bytes(submission.read_bytes())
    code, output = _refresh(copies)
    assert code == 0, output
    assert "no landed file changed since the last refresh" in output
    assert "nothing to do: release" in output and "run " not in output, output
    assert _landed(copies) == before
    assert sorted(copies.releases_dir.iterdir()) == releases
    # A release built on another day (an overdue flag may have changed) does not stand.
    manifest_file = copies.releases_dir / "latest" / "manifest.json"
    manifest = json.loads(manifest_file.read_text("utf-8"))
    assert _standing_release(copies) == (copies.releases_dir / "latest").resolve()
    manifest["build_inputs"]["date"] = "2020-01-01"
    manifest_file.write_text(json.dumps(manifest), "utf-8")
    assert _standing_release(copies) is None
    # Nor does one whose warehouse file was changed since (by anything but a run).
    manifest["build_inputs"]["date"] = date.today().isoformat()
    manifest_file.write_text(json.dumps(manifest), "utf-8")
    assert _standing_release(copies) is not None
    os.utime(copies.working_database)
    assert _standing_release(copies) is None
    # The loaded files' time moved to one instant half a second into a second, after every
    # load: the figures as of that instant (step 3) must hold them all, whatever precision
    # the moment is passed on in (truncated to the second, every file fell out of the build).
    with duckdb.connect(str(copies.working_database)) as con:
        first_vintage_time = con.execute(
            """select strftime(date_trunc('second', max(loaded_at)) + interval 1500 millisecond,
                               '%Y-%m-%d %H:%M:%S.%f') from raw.landed_files""").fetchone()[0]
        con.execute("update raw.landed_files set loaded_at = ?::timestamp where state = 'loaded'",
                    [first_vintage_time])

    # 2. A corrected resubmission: a new vintage, figures revised, the first still queryable.
    if submission.suffix == ".xlsx":
        wb = load_workbook(submission)
        ws = wb["填報表"]
        row = next(r for r in ws.iter_rows() if r[0].value == "縣市")[0].row + 1
        ws.cell(row, 4).value = str(parse_count(ws.cell(row, 4).value) + 7)
        wb.save(submission)
    else:
        def bump(text):
            header, data = text.splitlines()[:2]
            fields = next(csv.reader([data]))
            fields[3] = str(parse_count(fields[3]) + 7)  # 有就業意願轉介人數
            return header + "\n" + ",".join(f'"{f}"' for f in fields) + "\n"
        _rewrite_csv(submission, bump)
    code, output = _refresh(copies)
    assert code == 0, output
    with open(copies.releases_dir / "latest" / "revisions.csv", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert {(r["indicator_code"], r["measure"], r["window_start"], r["as_of"]) for r in rows} == {
        ("SSN.JOINT.1", "coverage_rate", "2024-01-01", "2024-09-30"),
        ("SSN.JOINT.1", "coverage_rate", "2024-01-01", "2024-12-31"),
    }
    assert all(r["changed_source_files"] == submission.name for r in rows), [r["changed_source_files"] for r in rows]
    assert all(float(r["new_value"]) < float(r["old_value"]) for r in rows)
    with duckdb.connect(str(copies.releases_dir / "latest" / "release.duckdb"), read_only=True) as con:
        vintages = con.sql("""select vintage, is_current, referred_willing
                              from marts.county_submission_vintages
                              where county_code = '10014' and report_year = 2024 and report_quarter = 3
                              order by vintage""").fetchall()
    assert [(v, current) for v, current, _ in vintages] == [(1, False), (2, True)]
    assert vintages[1][2] == vintages[0][2] + 7
    manifest = json.loads((copies.releases_dir / "latest" / "manifest.json").read_text(encoding="utf-8"))
    used = [f for f in manifest["source_files"] if f["file"] == submission.name]
    assert [f["vintage"] for f in used] == [2]

    # 3. The figures as of the first vintage are the previous release's figures.
    from dagster_project.vintage_figures import figures_as_of

    figures_as_of(copies, str(first_vintage_time), tmp_path / "as_of", progress=lambda m: None)
    with open(tmp_path / "as_of" / "indicators.csv", encoding="utf-8-sig") as f:
        as_of = {(r["indicator_code"], r["measure"], r["window_start"], r["as_of"]): r["value"]
                 for r in csv.DictReader(f)}
    for r in rows:
        key = (r["indicator_code"], r["measure"], r["window_start"], r["as_of"])
        assert float(as_of[key]) == pytest.approx(float(r["old_value"]), abs=0)


def test_a_stale_wal_is_checkpointed_and_an_orphaned_build_is_retired(tmp_path):
    from dagster_project.write_audit_publish import settle

    s = settings(tmp_path / "landing", tmp_path / "warehouse")
    s.warehouse_dir.mkdir()
    # A writer that dies before checkpointing leaves its changes in tsdg.duckdb.wal.
    subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import duckdb, os
        con = duckdb.connect({str(s.working_database)!r})
        con.execute("set checkpoint_threshold = '1GB'")
        con.execute("create table kept as select 42 as answer")
        os._exit(0)
    """)], check=True)
    wal = Path(f"{s.working_database}.wal")
    assert wal.exists()
    orphan = s.warehouse_dir / "builds" / "20200101T000000Z"
    orphan.mkdir(parents=True)
    (orphan / "tsdg.duckdb").write_bytes(b"half-written")
    # A step of a `--workers` run killed while copying: its lock file and half a copy.
    opening = s.warehouse_dir / "builds" / ".run-b.opening"
    opening.touch()
    partial = s.warehouse_dir / "builds" / ".run-b.partial"
    partial.mkdir()
    # A run killed after its promotion, before the replaced warehouse's blocks were freed.
    replaced = s.warehouse_dir / "builds" / ".replaced-run-c"
    replaced.write_bytes(b"the warehouse before run c")
    lines = []
    settle(s, lines.append)
    assert not opening.exists() and not partial.exists() and not replaced.exists()
    assert (s.warehouse_dir / "failed" / partial.name / "REASON.txt").exists()
    assert not wal.exists()
    with duckdb.connect(str(s.working_database), read_only=True) as con:
        assert con.sql("select answer from kept").fetchall() == [(42,)]
    assert not orphan.exists()
    assert (s.warehouse_dir / "failed" / orphan.name / "REASON.txt").exists()
    assert any("orphaned build" in line for line in lines)


def test_a_builds_data_left_in_its_wal_is_checkpointed_before_the_file_is_moved(tmp_path):
    """A writer that exits without closing its database (killed, or a forked child ending
    with os._exit) leaves its committed rows in the WAL: readers see them, the file alone
    does not hold them. What promote moves must hold everything that was validated."""
    from dagster_project.write_audit_publish import checkpointed

    database = tmp_path / "tsdg.duckdb"
    subprocess.run([sys.executable, "-c", (
        "import duckdb, os\n"
        f"con = duckdb.connect({str(database)!r})\n"
        "con.execute('create table t as select range as n from range(1000)')\n"
        "os._exit(0)")], check=True)
    assert Path(f"{database}.wal").exists()
    alone = tmp_path / "alone" / "tsdg.duckdb"
    alone.parent.mkdir()
    shutil.copy2(database, alone)
    with duckdb.connect(str(alone), read_only=True) as con:  # the file without its WAL
        assert con.execute("select count(*) from information_schema.tables "
                           "where table_name = 't'").fetchone() == (0,)
    assert checkpointed(database) is True
    assert not Path(f"{database}.wal").exists()
    assert checkpointed(database) is False  # nothing left to do
    moved = tmp_path / "moved.duckdb"
    os.replace(database, moved)
    with duckdb.connect(str(moved), read_only=True) as con:
        assert con.execute("select count(*), sum(n) from t").fetchone() == (1000, 499500)
