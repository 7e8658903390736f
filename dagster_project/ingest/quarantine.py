"""Move a refused file out of the landing area with a report its sender can act on."""

import json
import os
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

from dagster_project.ingest.problems import FileRejected, Problem
from dagster_project.lib.redact import redact_ids
from dagster_project.lib.rules import texts
from dagster_project.lib.source_contract import door


def _problem_dict(p: Problem) -> dict:
    said = texts(p.rule)
    return {"file": p.file, "sheet": p.sheet, "cell": p.cell, "row": p.row, "column": p.column,
            "value": p.value, "rule": p.rule, "rule_id": said["rule_id"], "rule_zh": said["zh"],
            "rule_en": said["en"], "fix_zh": said["fix_zh"], "fix": said["fix_en"]}


def _where_zh(p: Problem) -> str:
    parts = [f"工作表「{p.sheet}」"] if p.sheet else []
    if p.cell:
        parts.append(f"儲存格 {p.cell}")
    if p.row is not None:
        parts.append(f"第 {p.row} 列")
    parts.append(f"欄「{p.column}」")
    return "，".join(parts)


def due_date(period: str | None, deadline_days: int) -> date | None:
    """A submission period's due date: its last day + the registry's deadline days."""
    if not period:
        return None
    if "Q" in period:
        year, quarter = period.split("Q")
        end = date(int(year), int(quarter) * 3, 1) + timedelta(days=31)
    elif "-" in period:
        year, month = period.split("-")
        end = date(int(year), int(month), 1) + timedelta(days=31)
    else:
        end = date(int(period) + 1, 1, 1)
    return end.replace(day=1) - timedelta(days=1) + timedelta(days=deadline_days)


def clerk_report(name: str, family: str, rejected: FileRejected, period: str | None,
                 problems: list[dict]) -> str:
    """What the sender reads: zh-Hant first, English beside; where (sheet, cell, row,
    column), the rule and its fix; the due date and how to resend. No server paths, no
    run ids: the sender never sees the warehouse's side."""
    due = due_date(period, door().deadline_days)
    due_zh = f"（本期截止日：{due.isoformat()}）" if due else ""
    due_en = f" (due {due.isoformat()})" if due else ""
    lines = [f"檔案 {name} 未載入：共 {rejected.total} 個問題，檔案中的資料均未進入資料倉儲。",
             f"{name} was not loaded: {rejected.total} problem(s); nothing from it is in the warehouse.",
             f"請更正後以相同檔名放回「{family}」資料夾重新送出{due_zh}。",
             f"Correct it and put it back in the {family} folder under the same name{due_en}.", ""]
    for i, (problem, d) in enumerate(zip(rejected.problems, problems), start=1):
        value = f"（值「{problem.value}」）" if problem.quoted and problem.value else ""
        lines += [f"{i}. {_where_zh(problem)}{value}：{d['rule_zh']}",
                  f"   處理方式：{d['fix_zh']}",
                  f"   - {problem.detail()}",
                  f"   fix: {d['fix']}"]
    if rejected.total > len(problems):
        lines.append(f"… 另有 {rejected.total - len(problems)} 個同類問題 "
                     f"(and {rejected.total - len(problems)} more of the same kinds).")
    return "\n".join(lines) + "\n"


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
    text = clerk_report(path.name, record["family"], rejected, record.get("period"), problems)
    report.with_suffix(".txt").write_text(redact_ids(text), encoding="utf-8")
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
