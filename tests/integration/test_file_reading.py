"""Reading messy but valid files, and refusing bad ones, through the real loader."""

import json
from datetime import date

import duckdb
import pytest
from openpyxl import Workbook

from dagster_project.ingest.load import ensure_raw_tables, load_partition
from dagster_project.lib.reference import counties
from dagster_project.sample.generate import COUNTY_HEADER, LI_HEADER, ROSTER_HEADER

ROW = "T,T11304A001,職前訓練,Y,{nid},{birth},女,失業者,低收入戶、原住民,{county},{start},,在訓,"


def _write(folder, family, name, data: bytes):
    path = folder / family / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _roster(folder, rows, encoding="utf-8", name="roster_113Q2_T.csv"):
    text = "\n".join([",".join(ROSTER_HEADER), *rows]) + "\n"
    return _write(folder, "training_rosters", name, text.encode(encoding))


def _load(folder, db, key_file, family="training_rosters", partition="2024Q2"):
    """(rows of the raw table, quarantined files) after loading one partition."""
    with duckdb.connect(str(db)) as con:
        ensure_raw_tables(con)
        result = load_partition(con, folder, family, partition, key_file,
                                folder.parent / "quarantine", "run-1", log=lambda m: None)
        rows = con.sql(f"""select * exclude (source_file, file_sha256)
                           from raw.{family} order by source_row""").fetchall()
        return rows, result.quarantined


def test_big5_and_utf8_copies_give_identical_rows(tmp_path):
    rows = [ROW.format(nid="A123456789", birth="85/01/02", county="臺中市", start="113/04/01"),
            ROW.format(nid="F234567898", birth="0850102", county="台東縣", start="1130402")]
    results = []
    for encoding in ("cp950", "utf-8", "utf-8-sig"):
        folder = tmp_path / encoding / "landing"
        _roster(folder, rows, encoding)
        results.append(_load(folder, tmp_path / f"{encoding}.duckdb", tmp_path / "key")[0])
    assert results[0] == results[1] == results[2]
    assert [r[11] for r in results[0]] == ["66000", "10014"]  # county codes


def test_cp950_extension_and_hkscs_characters_and_crlf_are_read(tmp_path):
    # 碁 and 銹 are CP950 extensions of Big5; 𡃁 exists only in Big5-HKSCS.
    for encoding, course in (("cp950", "碁銹班"), ("big5hkscs", "𡃁班")):
        folder = tmp_path / encoding / "landing"
        row = ROW.format(nid="A123456789", birth="1990-01-01", county="臺北縣",
                         start="113/04/01").replace("T11304A001", course)
        text = "\r\n".join([",".join(ROSTER_HEADER), row, ",,,,,,,,,,,,,", ""])
        _write(folder, "training_rosters", "roster_113Q2_T.csv", text.encode(encoding))
        loaded, quarantined = _load(folder, tmp_path / f"{encoding}.duckdb", tmp_path / "key")
        assert quarantined == []
        assert [(r[3], r[11]) for r in loaded] == [(course, "65000")]  # 臺北縣 = 新北市 today


def test_date_forms_parse_to_the_same_iso_date(tmp_path):
    forms = ["113/04/05", "1130405", "113-04-05", "2024-04-05", "民國113年4月5日", "１１３／０４／０５",
             "113年4月5日", "113.04.05"]
    rows = [ROW.format(nid="A123456789", birth="99/01/01", county="臺北市", start=f)
            for f in forms]
    rows = [r.replace("T11304A001", f"T11304A00{i}") for i, r in enumerate(rows)]
    _roster(tmp_path / "landing", rows)
    loaded, _ = _load(tmp_path / "landing", tmp_path / "w.duckdb", tmp_path / "key")
    assert {str(r[12]) for r in loaded} == {"2024-04-05"}
    assert {str(r[7]) for r in loaded} == {"2010-01-01"}  # 2-digit ROC year 99 = 2010


def test_a_bad_file_is_quarantined_whole_and_the_partition_keeps_its_rows(tmp_path):
    landing = tmp_path / "landing"
    good = _roster(landing, [ROW.format(nid="A123456789", birth="1990-01-01", county="臺北市",
                                        start="113/04/01")])
    db = tmp_path / "w.duckdb"
    before, _ = _load(landing, db, tmp_path / "key")
    good.write_text("\n".join([",".join(ROSTER_HEADER),
        ROW.format(nid="A123456789", birth="1990-01-01", county="臺北市", start="112/02/29"),
        ROW.format(nid="A123456788", birth="1990-01-01", county="臺北市", start="113/04/01")]) + "\n",
        encoding="utf-8")
    # a good file of another branch in the same partition still loads
    other = _roster(landing, [ROW.format(nid="F234567898", birth="1990-01-01", county="臺中市",
                                         start="113/04/01").replace("T,", "C,", 1)],
                    name="roster_113Q2_C.csv")
    after, quarantined = _load(landing, db, tmp_path / "key")
    assert [q.file for q in quarantined] == ["roster_113Q2_T.csv"]
    assert not good.exists() and other.exists()
    report = json.loads(quarantined[0].report.read_text(encoding="utf-8"))
    assert quarantined[0].report.parent == tmp_path / "quarantine" / "run-1"
    assert (quarantined[0].report.parent / "roster_113Q2_T.csv").exists()
    # A person-level file's problems name row, column and rule; no cell is quoted.
    problems = {(p["row"], p["column"], p["value"]) for p in report["problems"]}
    assert problems == {(2, "開訓日期", ""), (3, "身分證統一編號", "")}
    assert all(p["fix"] for p in report["problems"])
    text = quarantined[0].report.with_suffix(".txt").read_text(encoding="utf-8")
    assert "row 3, column 身分證統一編號: not a valid national ID" in text
    assert "row 2, column 開訓日期: not a real calendar date" in text
    for personal in ("A123456788", "A12345678", "1990-01-01", "112/02/29"):
        assert personal not in text + json.dumps(report, ensure_ascii=False)
    # the earlier vintage of T stays; C was added; nothing of the bad file got in
    assert len(before) == 1 and len(after) == 2
    assert before[0] in after


def _county_workbook(path, rows):
    wb = Workbook()
    ws = wb.active
    ws.title = "填報表"
    for r in rows:
        ws.append(r)
    return wb, ws


def test_xlsx_with_title_row_merged_header_placeholders_and_trailing_rows(tmp_path):
    landing = tmp_path / "landing"
    path = landing / "county_submissions" / "10014_113Q2.xlsx"
    path.parent.mkdir(parents=True)
    counts = ["1,234", "１２０", "－", "40", "…", "10", "30,000", "-", "11"]
    wb, ws = _county_workbook(path, [
        ["臺東縣 113年第2季 社會安全網就業服務季報"],
        ["縣市", "年度", "季別", "社勞政共案"] + [None] * 9,  # a group label over merged cells
        [None, None, None, *COUNTY_HEADER[3:]],
        ["台東縣", "113", "2", *counts, "民國113年7月15日"],
        [None] * 13, [None] * 13,
    ])
    for column in "ABC":  # 縣市, 年度, 季別 merged down over the two header rows
        ws.merge_cells(f"{column}2:{column}3")
    ws.merge_cells("D2:M2")
    wb.save(path)
    rows, quarantined = _load(landing, tmp_path / "w.duckdb", tmp_path / "key",
                              "county_submissions", "2024Q2")
    assert quarantined == []
    (row,) = rows
    assert row[2:14] == ("10014", 2024, 2, 1234, 120, None, 40, None, 10, 30000, None, 11)
    assert sorted(row[15]) == ["new_joint_cases", "stable_3m", "sw_posts_approved"]
    assert str(row[14]) == "2024-07-15"


def test_xlsx_cells_typed_as_excel_stores_them_read_as_the_sender_typed_them(tmp_path):
    """Numbers stored as numbers (whole floats too), the date as a date cell (a number with
    a date format, as Excel stores a date typed into a date-formatted cell) and the form
    three rows down: the same row as the text a sender would have typed."""
    landing = tmp_path / "landing"
    path = landing / "county_submissions" / "10014_113Q2.xlsx"
    path.parent.mkdir(parents=True)
    wb, ws = _county_workbook(path, [[None], ["臺東縣 113年第2季"], COUNTY_HEADER,
                                     ["台東縣", 113, 2.0, 120, 80.0, 30, 25, 12, 10, 30000.0, 12,
                                      11, date(2024, 7, 15)]])
    ws["M4"].number_format = "yyyy/mm/dd"
    wb.save(path)
    rows, quarantined = _load(landing, tmp_path / "w.duckdb", tmp_path / "key",
                              "county_submissions", "2024Q2")
    assert quarantined == []
    (row,) = rows
    assert row[2:14] == ("10014", 2024, 2, 120, 80, 30, 25, 12, 10, 30000, 12, 11)
    assert str(row[14]) == "2024-07-15" and row[15] == []
    assert row[1] == 4  # source_row: the row number Excel shows


def test_a_workbook_past_the_row_limit_counts_its_rows_from_row_1(tmp_path, monkeypatch):
    """The registry's row limit for aggregated files counts a sheet's rows as Excel numbers
    them: empty rows above the form count too."""
    from dagster_project.lib.source_contract import door

    monkeypatch.setitem(door().max_rows, "aggregated", 5)
    landing = tmp_path / "landing"
    path = landing / "county_submissions" / "10014_113Q2.xlsx"
    path.parent.mkdir(parents=True)
    values = ["台東縣", "113", "2", "120", "80", "30", "25", "12", "10", "30000", "12", "11",
              "113/07/15"]
    wb, _ = _county_workbook(path, [[None], [None], [None], ["臺東縣 113年第2季"],
                                    COUNTY_HEADER, values])  # rows 4 to 6 used
    wb.save(path)
    rows, quarantined = _load(landing, tmp_path / "w.duckdb", tmp_path / "key",
                              "county_submissions", "2024Q2")
    assert rows == [] and quarantined[0].first_problem.endswith("too large: more than 5 rows")


def test_labour_insurance_placeholder_is_null_with_a_reason_and_a_good_totals_row_is_checked(tmp_path):
    landing = tmp_path / "landing"
    names = [c["name_zh"] for c in counties()]
    values = ["-"] + ['"1,000"'] * 21
    lines = [",".join(LI_HEADER)] + [f"11304,{n},OA_DEATHS,{v}" for n, v in zip(names, values)]
    lines.append(f'11304,總計,OA_DEATHS,"{1000 * 21:,}"')
    _write(landing, "labour_insurance", "bli_11304.csv", "\n".join(lines).encode("cp950"))
    rows, quarantined = _load(landing, tmp_path / "w.duckdb", tmp_path / "key",
                              "labour_insurance", "2024Q2")
    assert quarantined == []
    assert len(rows) == 22  # the totals row is checked, not loaded
    assert {(r[5], r[6]) for r in rows} == {(None, "no data (-)"), (1000, None)}


def test_header_that_breaks_the_contract_is_refused(tmp_path):
    landing = tmp_path / "landing"
    path = _roster(landing, [ROW.format(nid="A123456789", birth="1990-01-01", county="臺北市",
                                        start="113/04/01")])
    path.write_text(path.read_text(encoding="utf-8").replace("開訓日期", "開始日期"), encoding="utf-8")
    rows, quarantined = _load(landing, tmp_path / "w.duckdb", tmp_path / "key")
    assert rows == []
    assert "missing ['開訓日期']" in quarantined[0].first_problem


def test_a_tally_may_name_its_unit_by_any_registered_name(tmp_path):
    """DOMAIN.md §3.5 names the unit, not a code: code, full or short Chinese name, English
    name, full-width code — all mean WDA when the file name says WDA; another unit's name
    is still refused."""
    landing = tmp_path / "landing"
    forms = ["WDA", "勞動部勞動力發展署", "勞動力發展署", "Workforce Development Agency", "ＷＤＡ",
             "勞發署"]
    lines = ["統計年月,單位,項目代碼,數值"] + [f"1130{m},{form},STARTUP_WORKSHOPS,{m}"
                                      for m, form in enumerate(forms, start=1)]
    _write(landing, "programme_tallies", "tally_WDA_113.csv", "\n".join(lines).encode("cp950"))
    rows, quarantined = _load(landing, tmp_path / "w.duckdb", tmp_path / "key",
                              "programme_tallies", "2024Q1")
    assert quarantined == []
    assert [(r[3], r[4], r[5]) for r in rows] == [("WDA", "STARTUP_WORKSHOPS", m) for m in (1, 2, 3)]

    other = tmp_path / "other"
    _write(other, "programme_tallies", "tally_WDA_113.csv",
           "統計年月,單位,項目代碼,數值\n11301,勞動關係司,STARTUP_WORKSHOPS,1\n".encode())
    rows, quarantined = _load(other, tmp_path / "o.duckdb", tmp_path / "key",
                              "programme_tallies", "2024Q1")
    assert rows == []
    assert "單位" in quarantined[0].first_problem
    assert "unit disagrees with the file name (WDA)" in quarantined[0].first_problem


def test_a_refused_workbook_gets_a_report_a_clerk_can_act_on(tmp_path):
    """zh-Hant first, English beside: sheet, Excel cell, the rule and its fix from
    registry/rules.yml, the due date; no server path or run id."""
    landing = tmp_path / "landing"
    path = landing / "county_submissions" / "10014_113Q2.xlsx"
    path.parent.mkdir(parents=True)
    values = ["台東縣", "113", "2", "120", "80", "30", "十二", "25", "10", "30000", "12", "13",
              "113/07/15"]
    wb, _ = _county_workbook(path, [["臺東縣 113年第2季"], COUNTY_HEADER, values])
    wb.save(path)
    rows, quarantined = _load(landing, tmp_path / "w.duckdb", tmp_path / "key",
                              "county_submissions", "2024Q2")
    assert rows == []
    report = json.loads(quarantined[0].report.read_text(encoding="utf-8"))
    by_column = {p["column"]: p for p in report["problems"]}
    assert by_column["推介就業人數"]["cell"] == "G3"  # header on row 2, 推介就業人數 7th
    assert by_column["推介就業人數"]["rule_id"] == "whole_number"
    assert by_column["社工進用人數"]["cell"] == "L3" and by_column["社工進用人數"]["rule_id"] == "within_row"
    text = quarantined[0].report.with_suffix(".txt").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0].startswith("檔案 10014_113Q2.xlsx 未載入：共 2 個問題")
    assert "本期截止日：2024-08-14" in text  # 2024Q2 ends 06-30, + 45 days
    assert "工作表「填報表」，儲存格 G3，第 3 列，欄「推介就業人數」（值「十二」）：不是整數。" in text
    assert "處理方式：請填整數" in text and "fix: Write a whole number" in text
    assert str(tmp_path) not in text and "run-1" not in text


def test_a_partitions_files_load_in_one_pass_exactly_as_one_by_one(tmp_path):
    """Good person-level files of a quarter are checked and loaded together; the rows and
    records are those of loading each file alone. One bad file among them, and the quarter
    is loaded file by file: the bad one is named, the others load as before."""
    rows = {"T": [ROW.format(nid="A123456789", birth="85/01/02", county="臺北市", start="113/04/01"),
                  ROW.format(nid="F234567898", birth="1996-12-31", county="台東縣", start="1130402")],
            "C": [ROW.format(nid="B120000008", birth="民國88年2月28日", county="臺中市",
                             start="113.05.06").replace("T,T1", "C,C1", 1)],
            "N": [ROW.format(nid="E200000007", birth="0990101", county="雲林縣",
                             start="2024/06/30").replace("T,T1", "N,N1", 1)]}
    together = tmp_path / "together" / "landing"
    for branch, lines in rows.items():
        _roster(together, lines, encoding="cp950" if branch == "C" else "utf-8",
                name=f"roster_113Q2_{branch}.csv")
    with duckdb.connect(str(tmp_path / "together.duckdb")) as con:
        ensure_raw_tables(con)
        load = load_partition(con, together, "training_rosters", "2024Q2", tmp_path / "key",
                              tmp_path / "quarantine", "run-1", log=lambda m: None)
        loaded = con.sql("""select * exclude (source_file) from raw.training_rosters
                            order by course_id, source_row""").fetchall()
    assert load.one_pass and load.rows == {f"roster_113Q2_{b}.csv": len(r) for b, r in rows.items()}
    alone = []
    for branch, lines in rows.items():
        folder = tmp_path / branch / "landing"
        _roster(folder, lines, encoding="cp950" if branch == "C" else "utf-8",
                name=f"roster_113Q2_{branch}.csv")
        with duckdb.connect(str(tmp_path / f"{branch}.duckdb")) as con:
            ensure_raw_tables(con)
            single = load_partition(con, folder, "training_rosters", "2024Q2", tmp_path / "key",
                                    tmp_path / "quarantine", "run-1", log=lambda m: None)
            assert not single.one_pass
            alone += con.sql("select * exclude (source_file) from raw.training_rosters").fetchall()
    assert len(loaded) == 4 and sorted(loaded, key=lambda r: (r[3], r[2])) == \
        sorted(alone, key=lambda r: (r[3], r[2]))

    bad = ROW.format(nid="E200000008", birth="0990101", county="雲林縣", start="2024/06/31")
    _roster(together, [bad.replace("T,T1", "N,N1", 1)], name="roster_113Q2_N.csv")
    with duckdb.connect(str(tmp_path / "together.duckdb")) as con:
        load = load_partition(con, together, "training_rosters", "2024Q2", tmp_path / "key",
                              tmp_path / "quarantine", "run-2", log=lambda m: None)
        kept = con.execute("""select count(*) from raw.training_rosters
                              where source_file like '%\\_N.csv' escape '\\'""").fetchone()[0]
    # The bad file is set aside and the two others still load together, in one pass.
    assert load.one_pass
    assert [q.file for q in load.quarantined] == ["roster_113Q2_N.csv"]
    assert "row 2" in load.quarantined[0].first_problem and load.quarantined[0].total == 2
    assert set(load.rows) == {"roster_113Q2_T.csv", "roster_113Q2_C.csv"}
    assert kept == 1  # the earlier vintage of N keeps its row


_GOOD = ROW.format(nid="A123456789", birth="1990-01-01", county="臺北市", start="113/04/01")
_BAD = ROW.format(nid="A123456788", birth="1990-01-01", county="臺北市", start="113/04/01")
_MULTILINE = _GOOD.replace("T11304A001", '"T113\n04A001"')


@pytest.mark.parametrize("body, line_end, bad_line", [
    ([_GOOD, "", _BAD], "\n", 4),
    ([_GOOD, ",,,", "   ", ", ,", _BAD], "\n", 6),
    (["", "", _BAD, _GOOD], "\r\n", 4),
    ([_GOOD, "", _BAD], "\r", 4),
    ([_MULTILINE, _BAD], "\n", 4),
    ([_GOOD, _MULTILINE, "", ",", _GOOD, _BAD], "\n", 8),
], ids=["blank", "commas-and-spaces", "crlf", "cr-only", "quoted-line-break", "both"])
def test_a_row_is_named_by_the_line_a_text_editor_shows(tmp_path, body, line_end, bad_line):
    """DuckDB reads and numbers the rows: blank lines and line breaks inside quoted values
    still count, whatever the line ends."""
    landing = tmp_path / "landing"
    text = line_end.join([",".join(ROSTER_HEADER), *body]) + line_end
    _write(landing, "training_rosters", "roster_113Q2_T.csv", ("\ufeff" + text).encode("utf-8"))
    rows, quarantined = _load(landing, tmp_path / "w.duckdb", tmp_path / "key")
    assert rows == []
    report = json.loads(quarantined[0].report.read_text(encoding="utf-8"))
    assert [(p["row"], p["column"]) for p in report["problems"]] == [(bad_line, "身分證統一編號")]


def test_good_rows_keep_their_lines_and_a_quoted_line_break_its_value(tmp_path):
    landing = tmp_path / "landing"
    _roster(landing, [_GOOD, "", _MULTILINE, ",,", _GOOD.replace("T11304A001", "T11304A002")])
    rows, quarantined = _load(landing, tmp_path / "w.duckdb", tmp_path / "key")
    assert quarantined == []
    assert [(r[1], r[3]) for r in rows] == [(2, "T11304A001"), (4, "T113\n04A001"),
                                            (7, "T11304A002")]


def test_a_file_of_blank_lines_has_no_data_rows(tmp_path):
    landing = tmp_path / "landing"
    _roster(landing, ["", ",,,", "  "])
    rows, quarantined = _load(landing, tmp_path / "w.duckdb", tmp_path / "key")
    assert rows == [] and "file has no data rows" in quarantined[0].first_problem
