"""Status letters: for one quarter, one page per sender (county, branch, owner unit, BLI)
saying what the warehouse expected from them, what arrived and when, what was refused and
why (zh-Hant first, from registry/rules.yml), what is still missing, the due date and the
days overdue. Read from marts.submission_status of the latest release; written as HTML
(one file per sender, and one printable file with a page per sender) and XLSX.

    tsdg senders --quarter 2025Q3 [--sender 65000] [--out DIR]
"""

import html
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill

from dagster_project.lib.rules import texts
from dagster_project.lib.source_contract import door
from dagster_project.publish import access

STATUS = {"submitted": ("已收妥", "received"), "quarantined": ("退件，待重送", "refused, awaiting resubmission"),
          "missing": ("未送", "not received")}
WIDTHS = (13, 6, 11, 13, 8, 5, 8, 5, 31)  # % of the page width, per column
COLGROUP = "".join(f'<col style="width:{w}%">' for w in WIDTHS)
COLUMNS = [("資料類別", "Family"), ("期別", "Period"), ("狀態", "Status"), ("檔案", "File"),
           ("收到日期", "Received"), ("版本", "Vintage"), ("截止日", "Due"), ("逾期天數", "Days late"),
           ("說明", "Notes")]


@dataclass(frozen=True)
class Line:
    family: str
    period: str
    status: str
    file: str
    received: str
    vintage: str
    due: str
    days_late: int | None
    notes: str

    def cells(self) -> list:
        return [self.family, self.period, self.status, self.file, self.received, self.vintage,
                self.due, self.days_late if self.days_late else "", self.notes]


def quarter_bounds(quarter: str) -> tuple[date, date]:
    year, q = quarter.upper().split("Q")
    start = date(int(year), 3 * int(q) - 2, 1)
    end = date(int(year) + (q == "4"), 1 if q == "4" else 3 * int(q) + 1, 1)
    return start, date.fromordinal(end.toordinal() - 1)


def _notes(status: str, reason: str | None, no_data: str | None) -> str:
    if status == "quarantined" and reason:
        said = texts(reason)
        return f"{said['zh']} {said['fix_zh']}（{said['en']}）"
    if status == "missing":
        return "尚未收到，請儘速送出。(Not received yet.)"
    if no_data:
        return f"以「-」表示無資料的欄位：{no_data}（no data for {no_data}）"
    return ""


def letters(release_db: Path, quarter: str, sender: str | None, today: date) -> dict[tuple[str, str], list[Line]]:
    """(sender code, sender name) → the lines of that sender's letter for the quarter."""
    start, end = quarter_bounds(quarter)
    titles = {name: f"{f.title_zh} ({name})" for name, f in door().families.items()}
    with access.connect(release_db) as con:
        rows = con.execute("""
            select submitter, coalesce(submitter_name, submitter), family, period, status,
                current_file, cast(received_at as date), current_vintage, deadline,
                last_quarantine_reason, no_data_columns, last_quarantined_file
            from submission_status
            where is_expected and period_start <= ? and period_end >= ?
                and (? is null or submitter = ?)
            order by submitter, family, period_start""", [end, start, sender, sender]).fetchall()
    out: dict[tuple[str, str], list[Line]] = {}
    for (code, name, family, period, status, file, received, vintage, due, reason, no_data,
         refused_file) in rows:
        if status == "quarantined":
            file = refused_file
        late_by = (received or today) - due if due else None
        out.setdefault((code, name), []).append(Line(
            family=titles.get(family, family), period=period,
            status=f"{STATUS[status][0]} ({STATUS[status][1]})", file=file or "",
            received=received.isoformat() if received else "", vintage=str(vintage or ""),
            due=due.isoformat() if due else "",
            days_late=late_by.days if late_by is not None and late_by.days > 0 else None,
            notes=_notes(status, reason, no_data)))
    return out


CSS = """
@page { size: A4 landscape; margin: 14mm; }
body { font-family: "Noto Sans CJK TC", "Noto Sans TC", sans-serif; font-size: 10.5pt; color: #111; }
.letter { page-break-after: always; }
.letter:last-child { page-break-after: auto; }
h1 { font-size: 15pt; margin: 0 0 2mm; } h1 small { font-weight: normal; font-size: 10pt; }
p.summary { margin: 1mm 0 3mm; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #999; padding: 1.2mm 1.6mm; vertical-align: top; text-align: left; }
th { background: #e8eef5; } th span { display: block; font-weight: normal; font-size: 8.5pt; }
td.late { color: #a00; font-weight: bold; }
tr.missing td, tr.refused td { background: #fff4f0; }
footer { margin-top: 3mm; font-size: 8.5pt; color: #444; }
"""


def _letter_html(quarter: str, code: str, name: str, lines: list[Line], today: date, release: str) -> str:
    got = sum(1 for x in lines if x.status.startswith(STATUS["submitted"][0]))
    refused = sum(1 for x in lines if x.status.startswith(STATUS["quarantined"][0]))
    missing = len(lines) - got - refused
    head = "".join(f"<th>{zh}<span>{en}</span></th>" for zh, en in COLUMNS)
    body = []
    for x in lines:
        kind = ("missing" if x.status.startswith(STATUS["missing"][0])
                else "refused" if x.status.startswith(STATUS["quarantined"][0]) else "")
        cells = [html.escape(str(c)) for c in x.cells()]
        cells[7] = f'<td class="late">{cells[7]}</td>' if x.days_late else f"<td>{cells[7]}</td>"
        body.append(f'<tr class="{kind}">' + "".join(
            c if c.startswith("<td") else f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"""<section class="letter" data-sender="{html.escape(code)}">
<h1>{html.escape(name)}（{html.escape(code)}）{quarter} 資料報送狀態
<small>Submission status, {quarter}</small></h1>
<p class="summary">應報 {len(lines)} 件：已收妥 {got} 件、退件待重送 {refused} 件、未送 {missing} 件。
(Expected {len(lines)}: {got} received, {refused} refused, {missing} not received.)</p>
<table><colgroup>{COLGROUP}</colgroup><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>
<footer>資料日期 {today.isoformat()}，依據發布版本 {html.escape(release)}。退件請依說明更正後，以相同檔名重新送出。
(As of {today.isoformat()}, release {html.escape(release)}. Correct a refused file and send it again under the same name.)</footer>
</section>"""


def _page(title: str, sections: list[str]) -> str:
    return (f'<!doctype html><html lang="zh-Hant"><head><meta charset="utf-8"><title>{html.escape(title)}'
            f"</title><style>{CSS}</style></head><body>{''.join(sections)}</body></html>\n")


def _workbook(path: Path, quarter: str, code: str, name: str, lines: list[Line]) -> None:
    wb = Workbook()
    ws = wb.active
    ws.title = "報送狀態 Status"
    ws.append([f"{name}（{code}）{quarter} 資料報送狀態 Submission status"])
    ws["A1"].font = Font(bold=True, size=13)
    ws.append([f"{zh}\n{en}" for zh, en in COLUMNS])
    for cell in ws[2]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="E8EEF5")
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for x in lines:
        ws.append(x.cells())
    for letter, width in zip("ABCDEFGHI", (26, 10, 22, 22, 12, 8, 12, 10, 70)):
        ws.column_dimensions[letter].width = width
    for row in ws.iter_rows(min_row=3):
        row[8].alignment = Alignment(wrap_text=True, vertical="top")
    ws.freeze_panes = "A3"
    wb.save(path)


def write_letters(release_db: Path, release_id: str, quarter: str, out: Path,
                  sender: str | None = None, today: date | None = None) -> list[Path]:
    """One HTML and one XLSX per sender, plus letters.html (a page per sender, to print)."""
    today = today or date.today()
    found = letters(release_db, quarter, sender, today)
    out.mkdir(parents=True, exist_ok=True)
    written, sections = [], []
    for (code, name), lines in found.items():
        section = _letter_html(quarter, code, name, lines, today, release_id)
        sections.append(section)
        page = out / f"{code}.html"
        page.write_text(_page(f"{name} {quarter}", [section]), encoding="utf-8")
        _workbook(out / f"{code}.xlsx", quarter, code, name, lines)
        written += [page, out / f"{code}.xlsx"]
    if sections:
        combined = out / "letters.html"
        combined.write_text(_page(f"{quarter} 資料報送狀態", sections), encoding="utf-8")
        written.append(combined)
    return written
