"""The life of every landed file: received → loaded, or quarantined; a loaded file is
superseded when its sender sends the same submission again (a new vintage).

A submission is identified by family, submitter (county, branch, owner unit, or BLI) and
period; file names may differ between vintages (a county may send CSV, then XLSX).
"""

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from dagster_project.ingest.append import insert_rows
from dagster_project.ingest.files import LandedFile
from dagster_project.lib.redact import safe_text
from dagster_project.lib.source_contract import door

DDL = """create table if not exists raw.landed_files (
    family varchar, file_name varchar, source_file varchar, file_sha256 varchar,
    size_bytes bigint,
    received_at timestamp,  -- when the file landed (its modification time in the landing area)
    loaded_at timestamp,    -- when the warehouse took it in (or refused it)
    submitter varchar, period varchar, vintage int, state varchar, state_reason varchar,
    quarantine_report varchar, run_id varchar)"""

COLUMNS = ("family", "file_name", "source_file", "file_sha256", "size_bytes", "received_at",
           "loaded_at", "submitter", "period", "vintage", "state", "state_reason",
           "quarantine_report", "run_id")


def identity(landed: LandedFile) -> tuple[str, str]:
    """(submitter, period) of the submission a file carries, as the family's contract says:
    the sender named in the file name (or the family's one sender) and the period in the
    form dbt's period_start() reads (2024Q2, 2024-05, 2024)."""
    contract, f = door().family(landed.family), landed.fields
    submitter = f[contract.sender_field] if contract.sender_field else contract.sender_code
    period = {"quarter": f"{f['year']}Q{f.get('q')}", "month": f"{f['year']}-{f.get('month')}",
              "year": str(f["year"])}[contract.period]
    return submitter, period


def received_at(path: Path) -> datetime:
    return datetime.fromtimestamp(path.lstat().st_mtime, UTC).replace(tzinfo=None)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def state_of(con: duckdb.DuckDBPyConnection, family: str, name: str, sha: str) -> str | None:
    row = con.execute("""select state from raw.landed_files
                         where family = ? and file_name = ? and file_sha256 = ?
                         order by loaded_at desc limit 1""", [family, name, sha]).fetchone()
    return row[0] if row else None


class Ledger:
    """The records of the submissions a pass's files carry, read in one query, changed in
    memory as the files are recorded one after another, written back in two statements:
    a pass costs three round trips to raw.landed_files, not four per file."""

    def __init__(self, con: duckdb.DuckDBPyConnection, family: str, files: list[LandedFile]):
        submitters, periods = zip(*sorted({identity(f) for f in files})) if files else ((), ())
        rows = con.execute(f"""select l.rowid, {', '.join(f'l.{c}' for c in COLUMNS)}
                from raw.landed_files l
                join (select unnest(?::varchar[]) as submitter, unnest(?::varchar[]) as period) i
                  on l.submitter = i.submitter and l.period = i.period
                where l.family = ? order by l.loaded_at, l.rowid""",
                           [list(submitters), list(periods), family]).fetchall()
        self.records: list[dict] = []
        self.changed: set[int] = set()  # indexes of read records now superseded
        # indexes of records by file (name, sha256) and by submission (submitter, period)
        self.by_file: dict[tuple, list[int]] = {}
        self.by_submission: dict[tuple, list[int]] = {}
        for row in rows:
            self._add(dict(zip(("rowid", *COLUMNS), row)))

    def _add(self, record: dict) -> None:
        self.by_file.setdefault((record["file_name"], record["file_sha256"]), []).append(
            len(self.records))
        self.by_submission.setdefault((record["submitter"], record["period"]), []).append(
            len(self.records))
        self.records.append(record)

    def state_of(self, name: str, sha: str) -> str | None:
        """As state_of(): the state of this file's newest record (the latest on a tie)."""
        mine = [self.records[i] for i in self.by_file.get((name, sha), [])]
        return max(mine, key=lambda r: r["loaded_at"])["state"] if mine else None

    def record_loaded(self, landed: LandedFile, sha: str, size: int, run_id: str) -> int:
        """Record a loaded file; a new content of a submission becomes its newest vintage and
        the previous one is superseded. Loading the same content again changes nothing."""
        if self.state_of(landed.name, sha) == "loaded":
            return next(self.records[i]["vintage"] for i in self.by_file[(landed.name, sha)]
                        if self.records[i]["state"] == "loaded")
        submitter, period = identity(landed)
        same = self.by_submission.get((submitter, period), [])
        # Every vintage ever given counts, one refused later on revalidation included: a
        # number is never given twice.
        vintage = max((self.records[i]["vintage"] or 0 for i in same), default=0) + 1
        for i in same:
            if self.records[i]["state"] == "loaded":
                self.records[i] |= {"state": "superseded", "state_reason":
                                    f"superseded by {landed.name} (vintage {vintage})"}
                self.changed.add(i)
        self._add({
            "rowid": None, "family": landed.family, "file_name": landed.name,
            "source_file": str(landed.path), "file_sha256": sha, "size_bytes": size,
            "received_at": received_at(landed.path), "loaded_at": _now(),
            "submitter": submitter, "period": period, "vintage": vintage, "state": "loaded",
            "state_reason": None, "quarantine_report": None, "run_id": run_id})
        return vintage

    def write(self, con: duckdb.DuckDBPyConnection) -> None:
        """The changes, in the caller's transaction (a ledger serves one load attempt)."""
        superseded = [self.records[i] for i in sorted(self.changed)
                      if self.records[i]["rowid"] is not None]
        if superseded:
            con.execute("""update raw.landed_files set state = 'superseded',
                               state_reason = s.reason
                           from (select unnest(?::bigint[]) as id, unnest(?::varchar[]) as reason) s
                           where raw.landed_files.rowid = s.id""",
                        [[r["rowid"] for r in superseded], [r["state_reason"] for r in superseded]])
        insert_rows(con, "raw.landed_files",
                    [{c: r[c] for c in COLUMNS} for r in self.records if r["rowid"] is None])


def quarantine_record(family: str, path: Path, sha: str, size: int, landed: LandedFile | None,
                      reason: str, run_id: str) -> dict:
    submitter, period = identity(landed) if landed else (None, None)
    return {"family": family, "file_name": path.name, "source_file": str(path),
            "file_sha256": sha, "size_bytes": size, "received_at": received_at(path).isoformat(),
            "loaded_at": _now().isoformat(), "submitter": submitter, "period": period,
            "vintage": None, "state": "quarantined", "state_reason": reason,
            "quarantine_report": None, "run_id": run_id}


def revoked_record(loaded: dict, reason: str, run_id: str) -> dict:
    """The record of a loaded file refused on revalidation (`tsdg revalidate --apply`), from
    its loaded record (loaded_records): its original received and loaded times and vintage
    kept, its state now quarantined."""
    return loaded | {"state": "quarantined", "run_id": run_id,
                     "state_reason": f"refused on revalidation (the contract changed): {reason}"}


def loaded_records(con: duckdb.DuckDBPyConnection, family: str,
                   keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict]:
    """The loaded records of many (file name, sha256), in one query."""
    rows = con.execute(f"""select {', '.join(COLUMNS)} from raw.landed_files join
                               (select unnest(?::varchar[]) as n, unnest(?::varchar[]) as s) as k
                               on file_name = k.n and file_sha256 = k.s
                           where family = ? and state = 'loaded'""",
                       [[n for n, _ in keys], [s for _, s in keys], family]).fetchall()
    records = [{c: (v.isoformat() if isinstance(v, datetime) else v) for c, v in zip(COLUMNS, row)}
               for row in rows]
    return {(r["file_name"], r["file_sha256"]): r for r in records}


def insert_record(con: duckdb.DuckDBPyConnection, record: dict) -> None:
    """Record a refused file; a file refused on revalidation (it has a vintage) replaces
    its loaded record, so its rows no longer count."""
    insert_records(con, [record])


def insert_records(con: duckdb.DuckDBPyConnection, records: list[dict]) -> None:
    """insert_record of many files, in two statements however many."""
    records = [r | {"state_reason": safe_text(r["state_reason"], 400)} for r in records]
    revoked = [r for r in records if r.get("vintage") is not None]
    if revoked:
        con.execute("""delete from raw.landed_files using
                       (select unnest(?::varchar[]) as f, unnest(?::varchar[]) as n,
                               unnest(?::varchar[]) as s) as gone
                       where family = gone.f and file_name = gone.n and file_sha256 = gone.s
                         and state = 'loaded'""",
                    [[r[c] for r in revoked] for c in ("family", "file_name", "file_sha256")])
    insert_rows(con, "raw.landed_files", [{c: r[c] for c in COLUMNS} for r in records])


def restore_quarantine_records(con: duckdb.DuckDBPyConnection, quarantine_dir: Path,
                               family: str | None = None) -> int:
    """Quarantine reports are the durable record of refused files: a refresh whose build
    was not published loses its warehouse rows but not the quarantined files and reports.
    One query finds the reports' records the warehouse lacks (of `family`, or of every
    family), one insert restores them (the quarantine grows with every refused file; a
    query per report was paid by every family's ingest of every refresh)."""
    reports = sorted(quarantine_dir.glob("*/*.report.json")) if quarantine_dir.exists() else []
    records = [json.loads(report.read_text(encoding="utf-8"))["record"] for report in reports]
    records = [r for r in records if family is None or r["family"] == family]
    if not records:
        return 0
    key = ("family", "file_name", "file_sha256", "run_id")
    # An entry moved aside unread (a link, a pipe) has no digest: NULL matches NULL here.
    known = set(con.execute("""
        select l.family, l.file_name, l.file_sha256, l.run_id from raw.landed_files as l
        join (select unnest(?::varchar[]) as family, unnest(?::varchar[]) as file_name,
                     unnest(?::varchar[]) as file_sha256, unnest(?::varchar[]) as run_id) as r
          on l.family = r.family and l.file_name = r.file_name
         and l.file_sha256 is not distinct from r.file_sha256 and l.run_id = r.run_id""",
        [[record[c] for record in records] for c in key]).fetchall())
    by_key = {}
    for record in records:
        by_key.setdefault(tuple(record[c] for c in key), record)  # each file's record once
    missing = [record for k, record in by_key.items() if k not in known]
    if missing:
        insert_records(con, missing)
    return len(missing)
