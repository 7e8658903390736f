"""Load one family × quarter partition of a raw table: every good file, none of a bad one.

A bad file (FileRejected) is quarantined and the partition is loaded again without it, so
nothing of it is half-loaded and the other files of the partition still load. Earlier
vintages of a submission keep their rows (marked superseded in raw.landed_files).
"""

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from dagster_project.ingest import aggregated, lifecycle, person_level
from dagster_project.ingest.append import insert_rows
from dagster_project.ingest.files import (
    BadFile,
    LandedFile,
    digest_of,
    files_for_partition,
    landed_files,
    read_landed,
    set_aside_reason,
    sha256_of,
)
from dagster_project.ingest.problems import (
    FileRejected,
    FilesRejected,
    rejections_of,
    whole_file,
)
from dagster_project.ingest.quarantine import quarantine
from dagster_project.lib.freed_memory import scrubbed
from dagster_project.lib.pseudonym import load_key, sql_pads
from dagster_project.lib.redact import ID_SHAPE_SQL, MASK, safe_text
from dagster_project.lib.source_contract import door

LINEAGE = "partition_key varchar, source_file varchar, file_sha256 varchar, source_row int"
# The most bytes of person-level files loaded in one pass: a partition's files together,
# and several quarters' files together (each pass holds its files' bytes and rows at once).
TOGETHER_MAX_BYTES = 256 * 2**20
RANGE_MAX_BYTES = 32 * 2**20
# raw.* tables of records about files (a row per file, or per file and quarter), beside
# the families' own tables of rows.
RECORD_TABLES = ("landed_files", "partition_files")


@dataclass
class Quarantined:
    file: str
    report: Path
    first_problem: str
    total: int


@dataclass
class PartitionLoad:
    rows: dict[str, int] = field(default_factory=dict)  # file name → rows in this partition
    vintages: dict[str, int] = field(default_factory=dict)  # file name → its vintage
    one_pass: bool = False  # person-level files checked and loaded together, not one by one
    quarantined: list[Quarantined] = field(default_factory=list)
    # Loaded before, failing the contract as it now is, kept: no revalidation order
    kept: list[tuple[str, str]] = field(default_factory=list)  # (file name, first problem)
    # Revalidation orders this load acted on or found moot (the file passes again)
    settled: set[tuple[str, str, str]] = field(default_factory=set)


def ensure_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists raw")
    con.execute(lifecycle.DDL)
    # Rows per file and partition (a yearly tally file feeds four quarters).
    con.execute("""create table if not exists raw.partition_files (family varchar,
                   partition_key varchar, source_file varchar, file_sha256 varchar, row_count bigint)""")
    for table, ddl in {**person_level.RAW_DDL, **aggregated.RAW_DDL}.items():
        con.execute(f"create table if not exists {table} ({LINEAGE}, {ddl})")
    for table, column, kind in aggregated.ADDED_COLUMNS:
        con.execute(f"alter table {table} add column if not exists {column} {kind}")
    _scrub_old_reasons(con)


def _scrub_old_reasons(con) -> None:
    """Warehouses written before problems were value-free may hold quoted cells of
    person-level rows in their reasons: keep where and rule, drop the value, mask IDs."""
    families = ", ".join(f"'{f.name}'" for f in door().families.values() if f.person_level)
    con.execute(f"""update raw.landed_files
        set state_reason = regexp_replace(regexp_replace(state_reason,
                ': value ''.*'': ', ': '), '{ID_SHAPE_SQL}', '{MASK}', 'g')
        where family in ({families})
        and state_reason is not null and (state_reason like '%: value ''%'
             or regexp_matches(state_reason, '{ID_SHAPE_SQL}'))""")


# The registry names each family's reader (families.<family>.reader): one per file format.
ROW_READERS = {"long": aggregated.read_long_file, "form": aggregated.read_county_submission}


def _rows_of(landed: LandedFile, data: bytes, sha: str, partition: str) -> list[dict]:
    """An aggregated file's rows for the partition, with their lineage."""
    lineage = {"partition_key": partition, "source_file": str(landed.path), "file_sha256": sha}
    reader = ROW_READERS[door().family(landed.family).reader]
    return [lineage | row for row in reader(landed, data, partition)]


def _load_file(con, landed: LandedFile, data: bytes, sha: str, partition: str, pads) -> int:
    contract = door().family(landed.family)
    if contract.reader == "person_level":
        [n] = person_level.load_files(con, [(landed, data, sha, partition)],
                                      person_level.family(contract), pads)
        return n
    rows = _rows_of(landed, data, sha, partition)
    insert_rows(con, contract.raw_table, rows)
    return len(rows)


def check_pass(con, family: str, files: list[tuple[LandedFile, bytes, str, str]], pads) -> None:
    """Several files (landed, bytes, sha256, partition) of one family checked and appended
    in one pass, inside the caller's transaction: FilesRejected names every file that breaks
    a rule (each behind its own error boundary, as _load_file's), SeveralFiles says the
    pass failed without naming a file (the caller then takes them one by one)."""
    contract = door().family(family)
    if contract.reader == "person_level":
        person_level.load_files(con, files, person_level.family(contract), pads)
        return
    refused, rows = [], []
    for landed, data, sha, partition in files:
        try:
            rows += guarded(landed, _rows_of, landed, data, sha, partition)
        except FileRejected as exc:
            refused.append(exc)
    if refused:
        raise FilesRejected(refused)
    try:
        insert_rows(con, contract.raw_table, rows)
    except Exception:
        raise person_level.SeveralFiles() from None


def unreadable(landed: LandedFile, exc: Exception) -> FileRejected:
    """Any failure while reading or checking one file, as that file's refusal. For a
    person-level file only the exception's class is told: its message may quote a row."""
    message = "" if door().is_person_level(landed.family) else f": {safe_text(exc, 120)}"
    return whole_file(landed.name, f"unreadable ({type(exc).__name__}{message})")


def read_checked(landed: LandedFile) -> tuple[bytes, str]:
    """(bytes, sha256) of a landed file within the registry's limits, else FileRejected."""
    try:
        data = read_landed(landed)
    except BadFile as exc:
        raise whole_file(landed.name, str(exc)) from None
    return data, sha256_of(data)


def guarded(landed: LandedFile, work: Callable, *args):
    """work(*args) behind the per-file error boundary: every failure of the file itself
    becomes its FileRejected, so one file never stops the others."""
    try:
        return work(*args)
    except FileRejected:
        raise
    except Exception as exc:
        raise unreadable(landed, exc) from None


def load_guarded(con, landed: LandedFile, data: bytes, sha: str, partition: str, pads) -> int:
    """_load_file behind the per-file error boundary."""
    return guarded(landed, _load_file, con, landed, data, sha, partition, pads)


def refuse(con, family: str, path: Path, rejected: FileRejected, landed: LandedFile | None,
           quarantine_dir: Path, run_id: str, what: str | None = None,
           revoked: dict | None = None, records: list[dict] | None = None) -> Quarantined:
    """Quarantine a file and record it (not in a transaction that may roll back for
    another reason: the record must stay; its report is the durable record meanwhile).
    `what` names an entry that is not a regular file: it is moved aside unread. `revoked`:
    the loaded record (lifecycle.loaded_records) of a loaded file refused on revalidation;
    its new record keeps its dates and vintage. `records`: the record is appended there, for the caller to
    insert with others (lifecycle.insert_records), instead of inserted now."""
    sha, size = digest_of(path) if what is None else (None, path.lstat().st_size)
    problem = rejected.problems[0] if rejected.problems else None
    reason = problem.summary() if problem else "refused"
    record = (lifecycle.revoked_record(revoked, reason, run_id) if revoked is not None
              else lifecycle.quarantine_record(family, path, sha, size, landed, reason, run_id))
    report, record = quarantine(path, rejected, quarantine_dir, run_id, record,
                                regular=what is None)
    if records is None:
        lifecycle.insert_record(con, record)
    else:
        records.append(record)
    return Quarantined(path.name, report, problem.detail() if problem else reason, rejected.total)


def refuse_misnamed(con, family: str, paths: list[Path], quarantine_dir: Path,
                    run_id: str) -> list[Quarantined]:
    """Files set aside by their name (a broken name, a period the warehouse does not cover,
    a lock file, an .xls, another family's file): quarantined with the reason."""
    return [refuse(con, family, path, whole_file(path.name, set_aside_reason(family, path),
                                                 "file name", path.name),
                   None, quarantine_dir, run_id) for path in paths]


def refuse_irregular(con, family: str, entries: list[tuple[Path, str]], quarantine_dir: Path,
                     run_id: str) -> list[Quarantined]:
    """Links, folders, pipes and devices in a family folder: moved aside, never read."""
    return [refuse(con, family, path, whole_file(
                path.name, f"not a regular file ({what}); only files placed directly in the "
                           "family's folder are read", "file name", path.name),
                   None, quarantine_dir, run_id, what=what) for path, what in entries]


def _fits(family: str, files: list[LandedFile], limit: int) -> bool:
    """Several files in one pass: any number of aggregated files (small, parsed one by one);
    person-level files up to `limit` bytes in all (a pass holds their bytes at once)."""
    return len(files) > 1 and (not door().is_person_level(family)
                               or sum(f.path.lstat().st_size for f in files) <= limit)


def _attempt(con, family: str, groups: list[tuple[str, list[LandedFile]]], together: bool,
             pads, run_id: str, log: Callable[[str], None], shas: dict[str, str],
             refusals: dict, parsed: dict) -> list[PartitionLoad]:
    """One try at loading the files of `groups` [(partition, files)] inside the caller's
    transaction: a PartitionLoad per group, or FileRejected naming a file, or SeveralFiles
    when a pass over several files failed without naming one."""
    table = door().family(family).raw_table
    person = door().is_person_level(family)
    ledger = lifecycle.Ledger(con, family, list({f.name: f for _, fs in groups for f in fs}.values()))
    loads, read, pending = [], [], []
    contents: dict[str, tuple[bytes, str]] = {}  # a yearly file feeds four quarters: read once
    # In one pass, every file that fails its own reading or checking is named, and the rest
    # read on: the caller sets them all aside and tries once more, however many there are.
    refused: dict[str, FileRejected] = {}
    for partition, files in groups:
        load = PartitionLoad(one_pass=together)
        loads.append(load)
        for landed in files:
            if landed.name in refused:
                continue
            try:
                if landed.name not in contents:
                    contents[landed.name] = read_checked(landed)
                data, sha = contents[landed.name]
                shas[landed.name] = sha
                if together and not person:
                    # parsed once: a file that passed is not parsed again when the pass is
                    # tried again without a refused one
                    if (landed.name, partition) not in parsed:
                        parsed[landed.name, partition] = guarded(landed, _rows_of, landed, data,
                                                                 sha, partition)
                    rows = parsed[landed.name, partition]
            except FileRejected as exc:
                if not together:
                    raise
                refused[landed.name] = exc
                continue
            if ledger.state_of(landed.name, sha) is not None:
                # Loaded before (a backfill or a re-run): replace its rows. A file never
                # loaded has none, and the delete would scan the whole raw table.
                con.execute(f"delete from {table} where partition_key = ? and file_sha256 = ?",
                            [partition, sha])
            if not together:
                load.rows[landed.name] = load_guarded(con, landed, data, sha, partition, pads)
            elif not person:
                pending += rows
                load.rows[landed.name] = len(rows)
            load.vintages[landed.name] = ledger.record_loaded(landed, sha, len(data), run_id)
            read.append((load, partition, landed, data if together and person else b"", sha))
    if together and person:
        read = [r for r in read if r[2].name not in refused]  # a yearly file refused later
        try:
            counts = person_level.load_files(
                con, [(landed, data, sha, partition) for _, partition, landed, data, sha in read],
                person_level.family(door().family(family)), pads) if read else []
        except (FileRejected, FilesRejected) as exc:
            refused |= {r.file: r for r in rejections_of(exc)}
            counts = []
        if refused:
            raise FilesRejected(list(refused.values()))
        for (load, _, landed, _, _), n in zip(read, counts):
            load.rows[landed.name] = n
    elif refused:
        raise FilesRejected(list(refused.values()))
    elif together:
        try:
            insert_rows(con, table, pending)
        except Exception:
            raise person_level.SeveralFiles() from None
    ledger.write(con)
    _record_partition_files(con, family, read)
    for load, partition, landed, _, _ in read:
        log(f"{family} {partition}: {landed.name} → {load.rows[landed.name]} rows "
            f"(vintage {load.vintages[landed.name]})")
    for load in loads:  # ordered refused, but passes again
        load.settled = {k for k in refusals if k[0] == family and k[1] in load.rows
                        and shas.get(k[1]) == k[2]}
    return loads


def _record_partition_files(con, family: str, read: list) -> None:
    """raw.partition_files: rows per file and partition, replacing any earlier count."""
    if not read:
        return
    partitions = [partition for _, partition, _, _, _ in read]
    shas = [sha for _, _, _, _, sha in read]
    con.execute("""delete from raw.partition_files using
                   (select unnest(?::varchar[]) as p, unnest(?::varchar[]) as s) as loaded
                   where family = ? and partition_key = loaded.p and file_sha256 = loaded.s""",
                [partitions, shas, family])
    con.execute("insert into raw.partition_files select ?, unnest(?::varchar[]), "
                "unnest(?::varchar[]), unnest(?::varchar[]), unnest(?::bigint[])",
                [family, partitions, [str(landed.path) for _, _, landed, _, _ in read], shas,
                 [load.rows[landed.name] for load, _, landed, _, _ in read]])


def load_partition(con: duckdb.DuckDBPyConnection, sources_dir: Path, family: str,
                   partition: str, key_file: Path, quarantine_dir: Path, run_id: str,
                   log: Callable[[str], None] = print,
                   refusals: dict[tuple[str, str, str], str] | None = None,
                   files: list[LandedFile] | None = None) -> PartitionLoad:
    """Every good file of one partition, none of a bad one. `refusals`: loaded files to
    quarantine if they fail (tsdg revalidate --apply); any other loaded file that fails the
    contract as it now is stays loaded (`kept`). `files`: the partition's landed files, when
    the caller has listed the family's folder already."""
    files = files_for_partition(sources_dir, family, partition) if files is None else files
    pads = sql_pads(load_key(key_file)) if door().is_person_level(family) else None
    with _scrubbed_for(family):
        [load] = _load_clean(con, family, [(partition, files)], pads, quarantine_dir, run_id,
                             log, refusals or {})
    return load


def load_partitions(con: duckdb.DuckDBPyConnection, sources_dir: Path, family: str,
                    partitions: list[str], key_file: Path, quarantine_dir: Path, run_id: str,
                    log: Callable[[str], None] = print,
                    refusals: dict[tuple[str, str, str], str] | None = None,
                    files: list[LandedFile] | None = None) -> list[PartitionLoad]:
    """load_partition of each partition, in fewer passes: quarters whose files hold up to
    RANGE_MAX_BYTES are tried in one pass (one transaction, one set of checks, a few
    statements for all their files). A file refused in a pass is quarantined (or kept) and
    the pass is tried again without it; only a pass that fails without naming a file falls
    back to its quarters one by one."""
    files = landed_files(sources_dir, family)[0] if files is None else files
    pads = sql_pads(load_key(key_file)) if door().is_person_level(family) else None
    loads: list[PartitionLoad] = []
    with _scrubbed_for(family):
        for chunk in _chunks([(p, [f for f in files if p in f.partitions]) for p in partitions]):
            loads += _load_clean(con, family, chunk, pads, quarantine_dir, run_id, log,
                                 refusals or {})
    return loads


def _scrubbed_for(family: str):
    """A person-level family's files are read, and their bytes freed, within: what they
    free is overwritten (lib/freed_memory)."""
    return scrubbed() if door().is_person_level(family) else nullcontext()


def _load_clean(con, family: str, groups: list[tuple[str, list[LandedFile]]], pads,
                quarantine_dir: Path, run_id: str, log: Callable[[str], None],
                refusals: dict) -> list[PartitionLoad]:
    """A PartitionLoad per group [(partition, files)]: every good file loaded, none of a bad
    one. Each try is one transaction. A file it refuses is quarantined (outside the
    transaction: the record must stay), or kept if it was loaded before and no order
    refuses it, and the groups are tried again without it; a yearly file feeds four
    quarters and leaves them all. The first load carries what the tries refused and kept."""
    # Several quarters, or a partition's files, in one pass: person-level files in one SQL
    # pass (the fixed cost of the checks, a tenth of a second, paid once), aggregated files
    # parsed one by one (a problem names its file) and appended in one statement. A pass that
    # fails without naming a file (SeveralFiles) is split: quarters one by one, a quarter's
    # files one by one, which names the file.
    together = len(groups) > 1 or _fits(family, groups[0][1], TOGETHER_MAX_BYTES)
    shas: dict[str, str] = {}
    parsed: dict[tuple[str, str], list[dict]] = {}
    result = PartitionLoad()
    while True:
        con.begin()
        try:
            loads = _attempt(con, family, groups, together, pads, run_id, log, shas, refusals,
                             parsed)
            con.commit()
            break
        except person_level.SeveralFiles:
            con.rollback()
            if len(groups) == 1:
                together = False
                continue
            loads = []
            for partition, files in groups:
                gone = {q.file for load in loads for q in load.quarantined}
                loads += _load_clean(con, family, [(partition, [f for f in files
                                                                if f.name not in gone])],
                                     pads, quarantine_dir, run_id, log, refusals)
            break
        except (FileRejected, FilesRejected) as exc:
            con.rollback()
            # Every file this try refused: their loaded records read in one query, their
            # new records written in one commit (statements per file cost 12 ms a file);
            # until it commits, the quarantine reports, written file by file, are the
            # durable record (the next refresh restores any record missing).
            refused = []
            for rejected in rejections_of(exc):
                bad = next(f for _, files in groups for f in files if f.name == rejected.file)
                groups = [(p, [f for f in files if f is not bad]) for p, files in groups]
                # (a file refused before it was read, e.g. past a limit, is hashed here)
                refused.append((rejected, bad, (family, bad.name, shas.get(bad.name)
                                                or digest_of(bad.path)[0])))
            keys = [(key[1], key[2]) for _, _, key in refused]
            loaded = lifecycle.loaded_records(con, family, keys)
            records: list[dict] = []
            for rejected, bad, key in refused:
                if (key[1], key[2]) in loaded and key not in refusals:
                    # Its rows (untouched: rolled back) and its record stay.
                    result.kept.append((bad.name, rejected.problems[0].detail()
                                        if rejected.problems else ""))
                    continue
                result.quarantined.append(refuse(
                    con, family, bad.path, rejected, bad, quarantine_dir, run_id,
                    revoked=loaded.get((key[1], key[2])), records=records))
                result.settled.add(key)
            con.begin()
            try:
                lifecycle.insert_records(con, records)
                con.commit()
            except BaseException:
                con.rollback()
                raise
        except BaseException:
            con.rollback()
            raise
    loads[0].quarantined = result.quarantined + loads[0].quarantined
    loads[0].kept = result.kept + loads[0].kept
    loads[0].settled |= result.settled
    return loads


def _chunks(groups: list[tuple[str, list[LandedFile]]]) -> list[list]:
    """Consecutive groups whose files' sizes add up to at most RANGE_MAX_BYTES (a group
    past it alone)."""
    chunks, size = [], RANGE_MAX_BYTES + 1
    for group in groups:
        group_size = sum(f.path.lstat().st_size for f in group[1])
        if size + group_size > RANGE_MAX_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(group)
        size += group_size
    return chunks
