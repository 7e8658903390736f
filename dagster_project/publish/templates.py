"""`tsdg templates`: a workbook per sender for every family read as a form (the county
quarterly report), generated from the contract in registry/sources.yml — the file name
from its template, the sheet and header from its columns, the sender and period filled in
and locked, Excel validation on every input cell from its rules (counts whole and ≥ 0 or
"-", the within-row comparisons), and an instructions sheet in Chinese. Nothing here is
written per column: a new column or rule in the registry appears in the next templates.

The messages Excel shows are the door's own rule texts (registry/rules.yml), so a clerk
reads the same sentence whether Excel stops the value or the warehouse refuses the file.
"""

import re
from datetime import date, timedelta
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill, Protection
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from dagster_project.lib.reference import counties
from dagster_project.lib.rules import rule_text
from dagster_project.lib.source_contract import Family, door
from dagster_project.lib.text_normalise import PLACEHOLDERS
from dagster_project.publish.senders import quarter_bounds

HEADER_ROW, DATA_ROW = 1, 2
NO_DATA = "-"
INPUT_FILL = PatternFill("solid", fgColor="FFF2CC")  # the cells a clerk fills in
FIXED_FILL = PatternFill("solid", fgColor="E7E6E6")  # filled in by us, locked
# What a column of each type holds, for the instructions (by type, not by column).
TYPE_HELP = {
    "county": "縣市名稱（已預填，不可修改）",
    "roc_year": "民國年度（已預填，不可修改）",
    "quarter": "季別 1–4（已預填，不可修改）",
    "count": "整數，不得為負；確實無資料時填「-」（不是 0）",
    "date": "日期，例如 2025/10/15（儲存格為日期格式）",
}


def _rule_message(rule_id: str, **details: str) -> tuple[str, str]:
    """(zh sentence, fix) of a door rule, without the row's limit (unknown until filled)."""
    said = rule_text(rule_id, limit="\0", **details)
    return re.sub(r"（[^（]*\0）|\s*\([^(]*\0[^)]*\)", "", said["zh"]), said["fix_zh"]


def _validation(formula: str, rule_id: str, **details: str) -> DataValidation:
    zh, fix = _rule_message(rule_id, **details)
    return DataValidation(type="custom", formula1=formula, allow_blank=False, showErrorMessage=True,
                          errorStyle="stop", errorTitle="不符填報規則", error=f"{zh}{fix}"[:255],
                          showInputMessage=True, promptTitle="填寫說明", prompt=fix[:255])


def _count_ok(cell: str) -> str:
    return f'OR({cell}="{NO_DATA}",AND(ISNUMBER({cell}),{cell}>=0,{cell}=INT({cell})))'


def validations(f: Family) -> list[tuple[DataValidation, str]]:
    """(validation, the cell it covers) for every input cell of a form's data row."""
    letter = {c.name: get_column_letter(i) for i, c in enumerate(f.columns, start=1)}
    header = f.header_of
    out = []
    for c in f.columns:
        cell = f"{letter[c.name]}{DATA_ROW}"
        if c.type == "count":
            checks = [_count_ok(cell)]
            rule = ("negative", {})
            for w in (w for w in f.within_row if w.column == c.name):
                limit = f"{letter[w.at_most]}{DATA_ROW}"
                times = f"*{w.times}" if w.times != 1 else ""
                checks.append(f'OR({cell}="{NO_DATA}",{limit}="{NO_DATA}",{cell}<={limit}{times})')
                rule = ("within_row", {"column": header[w.column], "at_most": header[w.at_most],
                                       "times": f" × {w.times:,}" if w.times != 1 else ""})
            out.append((_validation(f"AND({','.join(checks)})", rule[0], **rule[1]), cell))
        elif c.type == "date":
            zh, fix = _rule_message("date")
            out.append((DataValidation(type="date", operator="greaterThan", formula1="DATE(1912,1,1)",
                                       allow_blank=False, showErrorMessage=True, errorTitle="不符填報規則",
                                       error=f"{zh}{fix}"[:255]), cell))
    return out


def _fixed(f: Family, county: dict, roc: int, q: int) -> dict[str, object]:
    """The values we fill in: who sends and for which period (from the file name's fields)."""
    values = {}
    for c in f.columns:
        if c.type == "county":
            values[c.name] = county["name_zh"]
        elif c.type == "roc_year":
            values[c.name] = roc
        elif c.type == "quarter":
            values[c.name] = q
    return values


def _roc(d: date) -> str:
    return f"民國{d.year - 1911}年{d.month}月{d.day}日（{d.isoformat()}）"


def _instructions(wb: Workbook, f: Family, county: dict, quarter: str, name: str) -> None:
    start, end = quarter_bounds(quarter)
    due = end + timedelta(days=door().deadline_days)
    ws = wb.create_sheet("說明")
    ws.append([f"{f.title_zh}填報說明 — {county['name_zh']} {quarter}"])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append([])
    ws.append(["檔名", name])
    ws.append(["資料期間", f"{_roc(start)} 至 {_roc(end)}"])
    ws.append(["送件期限", f"{_roc(due)}（季末後 {door().deadline_days} 日）"])
    ws.append(["填寫方式", f"只填「{f.sheet}」工作表第 {DATA_ROW} 列的黃色儲存格；灰色欄位已預填，請勿修改；"
                       "請勿更改標題列、工作表名稱或檔名。"])
    ws.append(["無資料", f"確實無資料時請填「{NO_DATA}」（亦接受 {'、'.join(sorted(PLACEHOLDERS - {NO_DATA}))}），"
                      "表示無資料，與 0 不同。"])
    ws.append([])
    ws.append(["欄位", "內容（registry 之英文定義）", "填寫規則"])
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
    for c in f.columns:
        meaning = f.flows.get(f"{f.flow_prefix}.{c.name}", "")
        rules = [TYPE_HELP.get(c.type, "")]
        for w in (w for w in f.within_row if w.column == c.name):
            zh, _ = _rule_message("within_row", column=f.header_of[w.column],
                                  at_most=f.header_of[w.at_most],
                                  times=f" × {w.times:,}" if w.times != 1 else "")
            rules.append(zh)
        ws.append([c.header, meaning, "；".join(r for r in rules if r)])
    for column, width in zip("ABC", (22, 46, 70)):
        ws.column_dimensions[column].width = width
    for row in ws.iter_rows(min_row=3):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")


def template(f: Family, county: dict, quarter: str) -> tuple[str, Workbook]:
    year, q = (int(x) for x in quarter.upper().split("Q"))
    roc = year - 1911
    name = f.name_template.format(county=county["county_code"], roc=roc, q=q, ext="xlsx")
    if not f.pattern.match(name):
        raise ValueError(f"{name} does not follow the {f.name} contract")
    wb = Workbook()
    ws = wb.active
    ws.title = f.sheet
    fixed = _fixed(f, county, roc, q)
    for i, c in enumerate(f.columns, start=1):
        head = ws.cell(HEADER_ROW, i, c.header)
        head.font = Font(bold=True)
        cell = ws.cell(DATA_ROW, i, fixed.get(c.name))
        if c.name in fixed:
            cell.fill = FIXED_FILL
        else:
            cell.fill, cell.protection = INPUT_FILL, Protection(locked=False)
            if c.type == "date":
                cell.number_format = "yyyy/mm/dd"
        ws.column_dimensions[get_column_letter(i)].width = max(10, 2 * len(c.header) + 2)
    for validation, cell in validations(f):
        validation.add(cell)
        ws.add_data_validation(validation)
    # Locked: the header, the sender and the period. No password: the lock guards against
    # slips, not against a determined sender (the door checks everything again).
    ws.protection.sheet = True
    _instructions(wb, f, county, quarter, name)
    wb.active = 0
    return name, wb


def write_templates(quarter: str, out: Path, sender: str | None = None) -> list[Path]:
    """One workbook per county for every family read as a form."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for f in (f for f in door().families.values() if f.reader == "form"):
        if f.sender_kind != "county":
            raise ValueError(f"{f.name}: templates are made for county senders only")
        for county in counties():
            if sender and county["county_code"] != sender:
                continue
            name, wb = template(f, county, quarter)
            wb.save(out / name)
            written.append(out / name)
    return written
