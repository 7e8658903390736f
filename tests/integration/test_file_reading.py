"""Reading messy but valid files, and refusing bad ones, through the real loader."""

import duckdb
import pytest

from dagster_project.ingest.load import ensure_raw_tables, load_partition
from dagster_project.ingest.problems import FileRejected
from dagster_project.sample.generate import ROSTER_HEADER

ROW = "T,T11304A001,職前訓練,Y,{nid},{birth},女,失業者,低收入戶、原住民,{county},{start},,在訓,"


def _roster(folder, rows, encoding="utf-8", name="roster_113Q2_T.csv"):
    path = folder / "training_rosters" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\n".join([",".join(ROSTER_HEADER), *rows]) + "\n").encode(encoding))
    return path


def _load(folder, db, key_file):
    with duckdb.connect(str(db)) as con:
        ensure_raw_tables(con)
        load_partition(con, folder, "training_rosters", "2024Q2", key_file, log=lambda m: None)
        return con.sql("""select * exclude (source_file, file_sha256)
                          from raw.training_rosters order by source_row""").fetchall()


def test_big5_and_utf8_copies_give_identical_rows(tmp_path):
    rows = [ROW.format(nid="A123456789", birth="85/01/02", county="臺中市", start="113/04/01"),
            ROW.format(nid="F234567898", birth="0850102", county="台東縣", start="1130402")]
    results = []
    for encoding in ("cp950", "utf-8", "utf-8-sig"):
        folder = tmp_path / encoding
        _roster(folder, rows, encoding)
        results.append(_load(folder, tmp_path / f"{encoding}.duckdb", tmp_path / "key"))
    assert results[0] == results[1] == results[2]
    assert [r[11] for r in results[0]] == ["66000", "10014"]  # county codes


def test_date_forms_parse_to_the_same_iso_date(tmp_path):
    forms = ["113/04/05", "1130405", "113-04-05", "2024-04-05", "民國113年4月5日", "１１３／０４／０５"]
    rows = [ROW.format(nid="A123456789", birth="1990-01-01", county="臺北市", start=f)
            for f in forms]
    # one enrolment per row: give each its own course
    rows = [r.replace("T11304A001", f"T11304A00{i}") for i, r in enumerate(rows)]
    _roster(tmp_path, rows)
    loaded = _load(tmp_path, tmp_path / "w.duckdb", tmp_path / "key")
    assert {str(r[12]) for r in loaded} == {"2024-04-05"}


def test_invalid_date_and_id_are_reported_with_file_row_and_column(tmp_path):
    good = _roster(tmp_path, [ROW.format(nid="A123456789", birth="1990-01-01", county="臺北市",
                                         start="113/04/01")])
    db = tmp_path / "w.duckdb"
    before = _load(tmp_path, db, tmp_path / "key")
    good.unlink()
    _roster(tmp_path, [
        ROW.format(nid="A123456789", birth="1990-01-01", county="臺北市", start="112/02/29"),
        ROW.format(nid="A123456788", birth="1990-01-01", county="臺北市", start="113/04/01"),
    ])
    with pytest.raises(FileRejected) as raised:
        _load(tmp_path, db, tmp_path / "key")
    message = str(raised.value)
    assert "roster_113Q2_T.csv: row 2, column 開訓日期: value '112/02/29'" in message
    assert "not a real calendar date" in message
    assert "roster_113Q2_T.csv: row 3, column 身分證統一編號: value 'A*********'" in message
    assert "A123456788" not in message
    # the partition keeps what it had
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.sql("select count(*) from raw.training_rosters").fetchall()[0][0] == len(before) == 1


def test_header_that_breaks_the_contract_is_refused(tmp_path):
    path = _roster(tmp_path, [ROW.format(nid="A123456789", birth="1990-01-01", county="臺北市",
                                         start="113/04/01")])
    path.write_text(path.read_text(encoding="utf-8").replace("開訓日期", "開始日期"), encoding="utf-8")
    with pytest.raises(FileRejected, match="missing \\['開訓日期'\\]"):
        _load(tmp_path, tmp_path / "w.duckdb", tmp_path / "key")
