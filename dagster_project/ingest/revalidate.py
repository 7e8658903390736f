"""`tsdg revalidate`: every file the warehouse holds as loaded or quarantined, checked
again against the contract as it is now (or against a draft, `--contract FILE`), without
loading anything: which files would now be refused, and which refused files would now be
taken in, with the rule that changes the verdict and the file's original dates. With
`--apply` (the contract in the registry only) the next refresh acts on the verdicts: the
loaded files that now fail are quarantined by it (their dates and vintages kept), the
refused files that now pass go back to the landing area to be loaded.

Each file is read by the same door as at ingest (limits, decoding, the family's reader and
its rules) into a scratch in-memory DuckDB that is thrown away; the warehouse is opened
read-only. Messages name rule, row and column, never a person-level row's content.
"""

import csv
import shutil
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb

from dagster_project.config import Settings
from dagster_project.ingest import orders
from dagster_project.ingest.files import LandedFile, classify
from dagster_project.ingest.load import (
    RANGE_MAX_BYTES,
    check_pass,
    ensure_raw_tables,
    load_guarded,
    read_checked,
)
from dagster_project.ingest.problems import FileRejected, FilesRejected, rejections_of
from dagster_project.lib.freed_memory import scrubbed
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
    sha256: str
    source_file: str  # where it is: the landing area (loaded) or the quarantine (refused)
    later: str  # a refused file's submission has a later vintage (file names), else ""

    @property
    def changed(self) -> bool:
        return (self.state, self.now) in {("loaded", "refused"), ("quarantined", "passes")}

    @property
    def offered(self) -> bool:
        """A refused file that now passes, with nothing newer from its sender: loading it
        would not overwrite a later vintage."""
        return self.state == "quarantined" and self.now == "passes" and not self.later


def _opened(path: Path, family: str, sha_then: str):
    """(landed, bytes, sha256) of a file to check, or its verdict when it cannot be checked."""
    if not path.is_file():
        return "unavailable", "the file is no longer where it was taken from"
    landed = classify(family, path)
    if landed is None:
        return "refused", f"file name does not follow the {family} contract (e.g. {door().family(family).example})"
    try:
        data, sha = read_checked(landed)
    except FileRejected as refused:
        return "refused", refused.problems[0].summary()
    if sha != sha_then:
        return "unavailable", "the file changed since it was taken in (the next refresh reads it)"
    return landed, data, sha


def _check(con, landed: LandedFile, data: bytes, sha: str, pads) -> tuple[str, str]:
    """(passes / refused, first problem) of one file under the current door."""
    con.begin()  # rolled back: the scratch tables stay empty
    try:
        load_guarded(con, landed, data, sha, landed.partitions[0], pads)
    except FileRejected as refused:
        # what tables keep (no value quoted), as raw.landed_files does
        return "refused", refused.problems[0].summary()
    finally:
        con.rollback()
    return "passes", ""


def _passes(items: list[tuple[int, Path, str]]) -> list[list[tuple[int, Path, str]]]:
    """A family's files (index, path, sha256) in passes of up to RANGE_MAX_BYTES, no file
    name twice in a pass (a problem names its file by name)."""
    passes, size, names = [], RANGE_MAX_BYTES + 1, set()
    for item in items:
        try:
            item_size = item[1].lstat().st_size
        except OSError:
            item_size = 0
        if size + item_size > RANGE_MAX_BYTES or item[1].name in names:
            passes.append([])
            size, names = 0, set()
        passes[-1].append(item)
        size += item_size
        names.add(item[1].name)
    return passes


def _check_family(con, family: str, items: list[tuple[int, Path, str]], pads,
                  verdicts: dict[int, tuple[str, str]]) -> None:
    """The verdict of every file of a family, in as few passes as its size allows: a pass
    checks its files together (one set of checks), and again without the files it refuses,
    until the rest pass; a pass that fails without naming a file checks them one by one."""
    for chunk in _passes(items):
        ready = []
        for i, path, sha_then in chunk:
            opened = _opened(path, family, sha_then)
            if len(opened) == 2:
                verdicts[i] = opened
            else:
                ready.append((i, *opened))
        while ready:
            con.begin()  # rolled back: the scratch tables stay empty
            try:
                check_pass(con, family, [(landed, data, sha, landed.partitions[0])
                                         for _, landed, data, sha in ready], pads)
                outcome = None
            except (FileRejected, FilesRejected) as exc:
                outcome = {r.file: r for r in rejections_of(exc)}
            except Exception:
                outcome = {}
            finally:
                con.rollback()
            if outcome is None:
                verdicts.update((i, ("passes", "")) for i, *_ in ready)
            elif not outcome:  # failed without naming a file
                verdicts.update((i, _check(con, landed, data, sha, pads))
                                for i, landed, data, sha in ready)
            else:
                for i, landed, *_ in ready:
                    if landed.name in outcome:
                        verdicts[i] = "refused", outcome[landed.name].problems[0].summary()
                ready = [r for r in ready if r[1].name not in outcome]
                continue
            break


def revalidate(s: Settings, family: str | None = None, progress=print) -> list[Verdict]:
    with duckdb.connect(str(s.working_database), read_only=True) as con:
        rows = con.execute("""select q.family, q.file_name, q.source_file, q.file_sha256, q.vintage,
                                     strftime(q.received_at, '%Y-%m-%d %H:%M:%S'),
                                     strftime(q.loaded_at, '%Y-%m-%d %H:%M:%S'), q.state,
                                     q.state_reason,
                                     (select string_agg(l.file_name, ', ' order by l.vintage)
                                      from raw.landed_files as l
                                      where q.state = 'quarantined' and l.family = q.family
                                        and l.submitter = q.submitter and l.period = q.period
                                        and l.state in ('loaded', 'superseded')
                                        and l.received_at > q.received_at)
                              from raw.landed_files as q
                              where q.state in ('loaded', 'quarantined') and q.period is not null
                                and ($family is null or q.family = $family)
                              order by q.family, q.file_name, q.loaded_at""",
                           {"family": family}).fetchall()
    families = set(door().families)
    person_level = any(door().is_person_level(f) for f, *_ in rows if f in families)
    pads = sql_pads(load_key(s.key_file)) if person_level else None
    checked: dict[int, tuple[str, str]] = {}
    scratch = duckdb.connect()  # in memory: nothing is loaded anywhere
    ensure_raw_tables(scratch)
    by_family: dict[str, list[tuple[int, Path, str]]] = {}
    for i, (fam, _, source, sha, *_) in enumerate(rows):
        if fam not in families:
            checked[i] = "refused", f"the family {fam} is no longer in the contract"
        else:
            by_family.setdefault(fam, []).append((i, Path(source), sha))
    # Person-level files' bytes are read and freed within: freed memory is overwritten.
    with scrubbed() if person_level else nullcontext():
        for fam, items in by_family.items():
            _check_family(scratch, fam, items, pads, checked)
            progress(f"  checked {len(checked)} of {len(rows)} files ({fam})")
    verdicts = []
    for i, (fam, name, source, sha, vintage, received, loaded, state, reason, later) in enumerate(rows):
        now, rule = checked[i]
        verdicts.append(Verdict(fam, name, state, vintage, received or "", loaded or "", now,
                                rule, texts(rule)["zh"] if rule else "",
                                (reason or "") if state == "quarantined" else "", sha, source,
                                later or ""))
    scratch.close()
    return verdicts


def apply(s: Settings, verdicts: list[Verdict]) -> tuple[list[Verdict], list[Verdict], list[str]]:
    """`--apply`: order the next refresh to quarantine every loaded file that now fails
    (orders.py), and return every refused file that now passes, with nothing newer from its
    sender, to its landing folder (its time kept, so its received date is the original)
    for the next refresh to load. Returns (ordered, returned, skipped with why)."""
    ordered = [v for v in verdicts if v.state == "loaded" and v.now == "refused"]
    orders.order(s, {(v.family, v.file_name, v.sha256): v.rule for v in ordered})
    returned, skipped = [], []
    for v in (v for v in verdicts if v.offered):
        original, target = Path(v.source_file), s.sources_dir / v.family / v.file_name
        if target.exists() or target.is_symlink():
            skipped.append(f"{v.family}/{v.file_name}: a file of that name is in the landing "
                           "area already")
        elif not original.is_file():
            skipped.append(f"{v.family}/{v.file_name}: the quarantined original is gone")
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(original, target)  # a rename, or a copy keeping its times
            returned.append(v)
    return ordered, returned, skipped


def write_report(verdicts: list[Verdict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[*asdict(verdicts[0]), "changed"] if verdicts
                                else ["family", "file_name", "changed"], lineterminator="\n")
        writer.writeheader()
        for v in verdicts:
            writer.writerow(asdict(v) | {"changed": v.changed})
