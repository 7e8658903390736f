"""`tsdg revalidate`: every file the warehouse holds as loaded or quarantined, checked
again against the contract as it is now (or against a draft, `--contract FILE`), without
loading anything: which files would now be refused, and which refused files would now be
taken in, with the rule that changes the verdict and the file's original dates.

Each file is read by the same door as at ingest (limits, decoding, the family's reader and
its rules) into a scratch in-memory DuckDB that is thrown away; the warehouse is opened
read-only. Messages name rule, row and column, never a person-level row's content.
"""

import csv
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb

from dagster_project.config import Settings
from dagster_project.ingest.files import classify
from dagster_project.ingest.load import ensure_raw_tables, load_guarded, read_checked
from dagster_project.ingest.problems import FileRejected
from dagster_project.lib.pseudonym import load_key, sql_pads
from dagster_project.lib.rules import texts
from dagster_project.lib.source_contract import door


@dataclass
class Verdict:
    family: str
    file_name: str
    state: str  # in the warehouse: loaded / quarantined
    vintage: int | None
    received_at: str
    loaded_at: str
    now: str  # passes / refused / unavailable
    rule: str  # the first problem under the contract checked (refused), else ""
    rule_zh: str
    before: str  # why it was refused at ingest (quarantined), else ""

    @property
    def changed(self) -> bool:
        return (self.state, self.now) in {("loaded", "refused"), ("quarantined", "passes")}


def _check(con, path: Path, family: str, sha_then: str, pads) -> tuple[str, str]:
    """(passes / refused / unavailable, first problem) of one file under the current door."""
    if not path.is_file():
        return "unavailable", "the file is no longer where it was taken from"
    landed = classify(family, path)
    if landed is None:
        return "refused", f"file name does not follow the {family} contract (e.g. {door().family(family).example})"
    con.begin()  # rolled back: the scratch tables stay empty
    try:
        data, sha = read_checked(landed)
        if sha != sha_then:
            return "unavailable", "the file changed since it was taken in (the next refresh reads it)"
        load_guarded(con, landed, data, sha, landed.partitions[0], pads)
    except FileRejected as refused:
        # what tables keep (no value quoted), as raw.landed_files does
        return "refused", refused.problems[0].summary()
    finally:
        con.rollback()
    return "passes", ""


def revalidate(s: Settings, family: str | None = None, progress=print) -> list[Verdict]:
    with duckdb.connect(str(s.working_database), read_only=True) as con:
        rows = con.execute("""select family, file_name, source_file, file_sha256, vintage,
                                     strftime(received_at, '%Y-%m-%d %H:%M:%S'),
                                     strftime(loaded_at, '%Y-%m-%d %H:%M:%S'), state, state_reason
                              from raw.landed_files
                              where state in ('loaded', 'quarantined') and period is not null
                                and ($family is null or family = $family)
                              order by family, file_name, loaded_at""",
                           {"family": family}).fetchall()
    families = set(door().families)
    person_level = any(door().is_person_level(f) for f, *_ in rows if f in families)
    pads = sql_pads(load_key(s.key_file)) if person_level else None
    verdicts = []
    scratch = duckdb.connect()  # in memory: nothing is loaded anywhere
    ensure_raw_tables(scratch)
    for i, (fam, name, source, sha, vintage, received, loaded, state, reason) in enumerate(rows, 1):
        if fam not in families:
            now, rule = "refused", f"the family {fam} is no longer in the contract"
        else:
            now, rule = _check(scratch, Path(source), fam, sha, pads)
        verdicts.append(Verdict(fam, name, state, vintage, received or "", loaded or "", now,
                                rule, texts(rule)["zh"] if rule else "",
                                (reason or "") if state == "quarantined" else ""))
        if i % 200 == 0:
            progress(f"  checked {i} of {len(rows)} files")
    scratch.close()
    return verdicts


def write_report(verdicts: list[Verdict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[*asdict(verdicts[0]), "changed"] if verdicts
                                else ["family", "file_name", "changed"], lineterminator="\n")
        writer.writeheader()
        for v in verdicts:
            writer.writerow(asdict(v) | {"changed": v.changed})
