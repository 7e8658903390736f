"""Move a refused file out of the landing area with a report its sender can act on."""

import json
import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path

from dagster_project.ingest.problems import FileRejected, Problem
from dagster_project.lib.redact import redact_ids

# Rule text → what the sender should do; first match wins.
ADVICE = (
    ("checksum", "Check the ID number against the card; a typo breaks its check digit."),
    ("neither UTF-8 nor Big5", "Save the file as UTF-8 or Big5 (CP950) text."),
    ("empty", "Send the file again with its header and data rows."),
    ("no data rows", "The file has a header but no data; send it again with its rows."),
    ("column missing", "Use the header row of the contract exactly (README, 'When a file is refused')."),
    ("header must be", "Use the header row of the contract exactly (README, 'When a file is refused')."),
    ("too large", "Check that this is the right file; split a very large file by quarter."),
    ("unreadable", "Open the file in Excel or a text editor, save it again and resend it."),
    ("longer than", "Shorten the value: no cell holds that much text."),
    ("not a regular file", "Place the file itself (not a link or folder) in the family's folder."),
    ("Excel lock file", "Nothing to resend for this entry: make sure the workbook itself is in the folder."),
    (".xls workbook", "Save the workbook as .xlsx (Excel Workbook) and put it in the folder instead."),
    ("file name's period", "Rename the file with the right ROC year and quarter (e.g. 113Q1 for 2024Q1)."),
    ("folder: move it", "Move the file to the folder the rule names; it is not read from this one."),
    ("does not send", "Use the code of the owner unit that sends these tallies in the file name (e.g. WDA)."),
    ("file name", "Rename the file to the pattern of its family (the example in the rule)."),
    ("disagrees with the file name", "Correct the value or rename the file so both name the same period / county / branch."),
    ("totals row", "Correct the totals row or the county rows so they add up (or leave the totals row out)."),
    ("cannot be negative", "A count is zero or more; correct the value (use - for 'no data')."),
    ("cannot exceed", "Check both values of the row: the first is part of the second, so it cannot be larger."),
    ("whole number", "Write a whole number (thousands separators are fine); use - for 'no data'."),
    ("required", "Fill the value in; use - where there is genuinely no data."),
    ("date", "Write a real date, e.g. 113/03/05, 1130305, 民國113年3月5日 or 2024-03-05."),
    ("county", "Use a county name from counties.csv (台/臺 both fine)."),
    ("must be one of", "Use one of the listed values."),
    ("once per", "Each county and measure appears once; remove the duplicate row."),
    ("no row for", "Every county needs a row for every measure in the file."),
    ("sheet", "Put the data on a sheet named 填報表."),
    ("XLSX", "Save the workbook again as .xlsx from Excel or LibreOffice."),
    ("CSV", "Check the quoting and the number of commas on the named row."),
    ("fields", "Check the quoting and the number of commas on the named row."),
)


def advice(rule: str) -> str:
    return next((fix for key, fix in ADVICE if key in rule), "Correct the value and send the file again.")


def _problem_dict(p: Problem) -> dict:
    return {"file": p.file, "sheet": p.sheet, "row": p.row, "column": p.column, "value": p.value,
            "rule": p.rule, "fix": advice(p.rule)}


def _private_folder(folder: Path) -> None:
    """Quarantined originals are the one place a raw ID may rest: owner-only folders."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder.chmod(0o700)


def _move_aside(path: Path, target: Path, regular: bool) -> bool:
    """Move the landed entry; True when it left the landing area. An entry that is not a
    regular file is renamed only (never copied: that would read a link's target or block
    on a pipe); a regular file in a read-only landing area is copied instead."""
    try:
        os.rename(path, target)
        return True
    except OSError:
        if not regular:
            return False
    try:
        shutil.move(path, target)
        return True
    except PermissionError:
        shutil.copy2(path, target)
        return False


def quarantine(path: Path, rejected: FileRejected, quarantine_dir: Path, run_id: str,
               record: dict, regular: bool = True) -> tuple[Path, dict]:
    """Move `path` to quarantine/<run>/ and write <name>.report.json and .report.txt beside
    it. Returns the JSON report's path and the lifecycle record it holds. Problems carry no
    personal data (see problems.py); both reports pass through `redact_ids` as well."""
    _private_folder(quarantine_dir)
    folder = quarantine_dir / run_id
    _private_folder(folder)
    target = folder / path.name
    moved = _move_aside(path, target, regular)
    if regular and target.exists() and not target.is_symlink():
        target.chmod(0o600)  # the sender's own file may hold raw IDs
    report = folder / f"{path.name}.report.json"
    problems = [_problem_dict(p) for p in rejected.problems]
    record = record | {"source_file": str(target), "quarantine_report": str(report)}
    report.write_text(redact_ids(json.dumps({
        "file": path.name, "landed_as": str(path), "moved_to": str(target),
        "removed_from_landing": moved, "problems_total": rejected.total,
        "problems": problems, "record": record,
    }, ensure_ascii=False, indent=1)), encoding="utf-8")
    lines = [f"{path.name} was not loaded ({rejected.total} problem(s)); nothing from it is in the warehouse.",
             f"It was moved to {target}." if moved else "It was left where it landed.",
             "Fix the file and drop it into the landing area again.", ""]
    for problem in rejected.problems:
        lines += [f"- {problem.detail()}", f"  fix: {advice(problem.rule)}"]
    if rejected.total > len(problems):
        lines.append(f"… and {rejected.total - len(problems)} more of the same kinds.")
    report.with_suffix(".txt").write_text(redact_ids("\n".join(lines) + "\n"), encoding="utf-8")
    return report, record


def purge_resolved(con, quarantine_dir: Path, retention_days: int, now: datetime) -> list[Path]:
    """Delete quarantined originals whose submission has since loaded a corrected version
    at least `retention_days` ago; their reports stay. Returns the deleted paths."""
    rows = con.execute("""
        select distinct q.source_file from raw.landed_files as q
        where q.state = 'quarantined' and exists (
            select 1 from raw.landed_files as l
            where l.family = q.family and l.submitter = q.submitter and l.period = q.period
            and l.state in ('loaded', 'superseded') and l.loaded_at > q.loaded_at
            and l.loaded_at <= ?)""", [now - timedelta(days=retention_days)]).fetchall()
    purged = []
    root = quarantine_dir.resolve()
    for (source_file,) in rows:
        original = Path(source_file)
        # Only files inside the quarantine folder, and never a report.
        if (original.parent.parent.resolve() == root and not original.name.endswith(".report.json")
                and (original.is_file() or original.is_symlink())):
            original.unlink()
            purged.append(original)
    return purged
