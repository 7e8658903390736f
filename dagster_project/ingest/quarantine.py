"""Move a refused file out of the landing area with a report its sender can act on."""

import json
import shutil
from pathlib import Path

from dagster_project.ingest.problems import FileRejected, Problem

# Rule text → what the sender should do; first match wins.
ADVICE = (
    ("checksum", "Check the ID number against the card; a typo breaks its check digit."),
    ("neither UTF-8 nor Big5", "Save the file as UTF-8 or Big5 (CP950) text."),
    ("empty", "Send the file again with its header and data rows."),
    ("no data rows", "The file has a header but no data; send it again with its rows."),
    ("column missing", "Use the header row of the contract exactly (README, 'When a file is refused')."),
    ("header must be", "Use the header row of the contract exactly (README, 'When a file is refused')."),
    ("file name", "Rename the file to the pattern of its family, e.g. roster_113Q2_T.csv."),
    ("disagrees with the file name", "Correct the value or rename the file so both name the same period / county / branch."),
    ("totals row", "Correct the totals row or the county rows so they add up (or leave the totals row out)."),
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


def quarantine(path: Path, rejected: FileRejected, quarantine_dir: Path, run_id: str,
               record: dict) -> tuple[Path, dict]:
    """Move `path` to quarantine/<run>/ and write <name>.report.json and .report.txt beside
    it. Returns the JSON report's path and the lifecycle record it holds. Raw IDs never appear: problems carry them redacted."""
    folder = quarantine_dir / run_id
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    try:
        shutil.move(path, target)
        moved = True
    except PermissionError:  # a read-only landing area: keep a copy, leave the original
        shutil.copy2(path, target)
        moved = False
    # The sender's own file may hold raw IDs: readable by the warehouse's owner only.
    target.chmod(0o600)
    report = folder / f"{path.name}.report.json"
    problems = [_problem_dict(p) for p in rejected.problems]
    record = record | {"source_file": str(target), "quarantine_report": str(report)}
    report.write_text(json.dumps({
        "file": path.name, "landed_as": str(path), "moved_to": str(target),
        "removed_from_landing": moved, "problems_total": rejected.total,
        "problems": problems, "record": record,
    }, ensure_ascii=False, indent=1), encoding="utf-8")
    lines = [f"{path.name} was not loaded ({rejected.total} problem(s)); nothing from it is in the warehouse.",
             f"It was moved to {target}.", "Fix the file and drop it into the landing area again.", ""]
    for problem in rejected.problems:
        lines += [f"- {problem.detail()}", f"  fix: {advice(problem.rule)}"]
    if rejected.total > len(problems):
        lines.append(f"… and {rejected.total - len(problems)} more of the same kinds.")
    report.with_suffix(".txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return report, record
