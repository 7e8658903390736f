"""County submission templates from the contract: what Excel enforces is what the door
enforces, in the same words, and a filled template is taken in unchanged."""

from datetime import datetime

import pytest
from openpyxl import load_workbook

from dagster_project.cli import main
from dagster_project.ingest.aggregated import read_county_submission
from dagster_project.ingest.files import classify
from dagster_project.ingest.problems import FileRejected
from dagster_project.lib.reference import counties
from dagster_project.lib.rules import texts
from dagster_project.lib.source_contract import door

FORMS = [f for f in door().families.values() if f.reader == "form"]
VALUES = {"referred_willing": 120, "jointly_served": 95, "new_joint_cases": 14, "placed": 33,
          "stable_3m": 20, "matched_savings_participants": 11, "matched_savings_amount": 66000,
          "sw_posts_approved": 90, "sw_posts_filled": 88}


@pytest.fixture(scope="module")
def templates(tmp_path_factory):
    out = tmp_path_factory.mktemp("templates")
    assert main(["templates", "--quarter", "2025Q3", "--out", str(out)]) == 0
    return out


def _fill(path, values, submitted=datetime(2025, 10, 15)):
    f = FORMS[0]
    wb = load_workbook(path)
    ws = wb[f.sheet]
    for i, c in enumerate(f.columns, start=1):
        if c.name in values:
            ws.cell(2, i, values[c.name])
        elif c.type == "date":
            ws.cell(2, i, submitted)  # a real date cell, as Excel stores a typed date
    wb.save(path)
    return path


def _read(path):
    landed = classify(FORMS[0].name, path)
    assert landed is not None, path.name
    data = path.read_bytes()
    return read_county_submission(landed, data, landed.partitions[0])


def test_one_template_per_county_named_and_shaped_by_the_contract(templates):
    f = FORMS[0]
    names = sorted(p.name for p in templates.iterdir())
    assert names == sorted(f"{c['county_code']}_114Q3.xlsx" for c in counties())
    assert all(f.pattern.match(n) for n in names)
    wb = load_workbook(templates / "65000_114Q3.xlsx")
    ws = wb[f.sheet]
    assert [c.value for c in ws[1]] == [c.header for c in f.columns]
    assert [c.value for c in ws[2]][:3] == ["新北市", 114, 3]
    assert ws.protection.sheet
    locked = {c.column_letter: c.protection.locked for c in ws[2]}
    assert locked["A"] and locked["B"] and locked["C"] and not locked["D"] and not locked["M"]
    # every input cell validated; the within-row rules as Excel formulas
    covered = {str(dv.sqref): dv for dv in ws.data_validations.dataValidation}
    inputs = [f"{c.column_letter}2" for c in ws[2] if not c.protection.locked]
    assert sorted(covered) == sorted(inputs)
    assert "E2<=D2" in covered["E2"].formula1 and "J2<=I2*9000" in covered["J2"].formula1
    assert 'D2="-"' in covered["D2"].formula1 and "D2>=0" in covered["D2"].formula1
    assert covered["M2"].type == "date"
    about = [" ".join(str(v) for v in r if v) for r in wb["說明"].iter_rows(values_only=True)]
    assert any("2025-11-14" in line and "送件期限" in line for line in about)
    assert any(line.startswith("社勞政聯合服務人數") for line in about)


def test_a_filled_template_is_taken_in_unchanged(templates, tmp_path):
    path = tmp_path / "65000_114Q3.xlsx"
    path.write_bytes((templates / path.name).read_bytes())
    [row] = _read(_fill(path, VALUES))
    assert row["county_code"] == "65000" and row["year"] == 2025 and row["quarter"] == 3
    assert {k: int(row[k]) for k in VALUES} == VALUES
    assert str(row["submitted_on"]) == "2025-10-15"


@pytest.mark.parametrize("column, value, rule_id", [
    ("jointly_served", 121, "within_row"),
    ("matched_savings_amount", 11 * 9000 + 1, "within_row"),
    ("placed", -3, "negative"),
])
def test_a_value_excel_would_stop_is_refused_by_the_door_in_the_same_words(
        templates, tmp_path, column, value, rule_id):
    f = FORMS[0]
    path = tmp_path / "65000_114Q3.xlsx"
    path.write_bytes((templates / path.name).read_bytes())
    _fill(path, VALUES | {column: value})
    with pytest.raises(FileRejected) as refused:
        _read(path)
    [problem] = refused.value.problems
    letter = next(i for i, c in enumerate(f.columns, start=1) if c.name == column)
    assert problem.column == f.header_of[column] and problem.cell == f"{chr(64 + letter)}2"
    said = texts(problem.rule)
    assert said["rule_id"] == rule_id
    validation = next(dv for dv in load_workbook(path)[f.sheet].data_validations.dataValidation
                      if str(dv.sqref) == problem.cell)
    # Excel's message is the door's sentence (without the row's limit) and its fix
    sentence = said["zh"].split("（本列上限")[0].rstrip("。")
    assert validation.error.startswith(sentence) and said["fix_zh"] in validation.error
