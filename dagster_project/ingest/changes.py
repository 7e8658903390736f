"""What the landing area holds that the warehouse has not taken in: the one answer that
`tsdg refresh` (which quarters to ingest) and the landing sensor (which run to request) use.

A file counts as new when the warehouse has not loaded its (family, name, content); names,
not paths, so a landing area copied or mounted elsewhere is not a change, and a file loaded
and later removed from the landing area stays loaded. The sensor's cursor maps each file to
(size, mtime_ns, sha256): a file is hashed again only when its size or time changed.
"""

from datetime import datetime

import duckdb

from dagster_project.config import Settings
from dagster_project.ingest.files import digest_of, irregular_entries, landed_files, strays
from dagster_project.ingest.lifecycle import received_at
from dagster_project.ingest.orders import refusals
from dagster_project.lib.duckdb_tables import table_names
from dagster_project.lib.quarters import QUARTERS
from dagster_project.lib.source_contract import family_names


class WarehouseBusy(RuntimeError):
    pass


def received(s: Settings) -> dict[tuple[str, str, str], tuple[int, datetime]]:
    """{(family, file name, sha256): (size, modification time)} of what the working
    warehouse has loaded."""
    if not s.working_database.exists():
        return {}
    try:
        with duckdb.connect(str(s.working_database), read_only=True) as con:
            if "raw.landed_files" not in table_names(con):
                return {}
            return {(f, n, h): (size, at) for f, n, h, size, at in con.execute(
                """select family, file_name, file_sha256, size_bytes, received_at
                   from raw.landed_files where state in ('loaded', 'superseded')""").fetchall()}
    except duckdb.IOException as exc:  # a writer holds the file
        raise WarehouseBusy(str(exc)) from None


def scan(s: Settings, cursor: dict, full_cursor: bool = True) -> tuple[dict[str, set[str]], dict]:
    """({quarter: families with new content}, new cursor). Without a cursor, everything
    the working warehouse already holds counts as seen. `full_cursor` False: a file whose
    name the warehouse has never loaded is new whatever its content, so it is not hashed
    (and has no cursor entry): a first refresh does not read the whole landing area twice."""
    seen_before = received(s) if not cursor else {}
    names_before = {(family, name) for family, name, _ in seen_before}
    # A file whose name, size and modification time are those of a version the warehouse
    # loaded is that version: not read again (the sensor's cursor makes the same judgement;
    # `tsdg refresh --quarters` re-reads a quarter whatever its files say).
    loaded_as = {(family, name, size, at): sha
                 for (family, name, sha), (size, at) in seen_before.items()}
    # Loaded files `tsdg revalidate --apply` ordered refused: their quarters are read again
    # by the next `tsdg refresh` (the sensor leaves them to the runs it starts anyway).
    ordered = set(refusals(s)) if not cursor else set()
    current, changed = {}, {}
    refused_families = set()
    for family in family_names():
        good, misnamed = landed_files(s.sources_dir, family)
        # Misnamed files, strays and entries that are not regular files are refused by any
        # ingest run of their family, whatever its quarters.
        refused = misnamed + strays(s.sources_dir, family) + [
            p for p, _ in irregular_entries(s.sources_dir, family)]
        for path, partitions in [(f.path, f.partitions) for f in good] + [(p, ()) for p in refused]:
            key, stat = f"{family}/{path.name}", path.lstat()
            seen = cursor.get(key)
            if seen and seen[:2] == [stat.st_size, stat.st_mtime_ns]:
                current[key], sha, new = seen, seen[2], False
            elif not (full_cursor or seen or (family, path.name) in names_before):
                sha, new = None, True  # never loaded under this name: new, unread
            elif not seen and (sha := loaded_as.get(
                    (family, path.name, stat.st_size, received_at(path)))):
                current[key], new = [stat.st_size, stat.st_mtime_ns, sha], False
            else:
                sha = digest_of(path)[0] or "not a regular file"
                current[key] = [stat.st_size, stat.st_mtime_ns, sha]
                new = not ((seen and seen[2] == sha) or (family, path.name, sha) in seen_before)
            if not new and (family, path.name, sha) not in ordered:
                continue
            if not partitions:
                refused_families.add(family)
            for partition in partitions:
                changed.setdefault(partition, set()).add(family)
    if refused_families:  # their family's ingest gives the verdict: make sure one runs
        first = min(changed) if changed else QUARTERS[-1]
        changed.setdefault(first, set()).update(refused_families)
    return changed, current


def in_order(changed: dict[str, set[str]]) -> tuple[list[str], list[str]]:
    """(quarters in partition order, families) of a scan's result."""
    quarters = [k for k in QUARTERS if k in changed]
    return quarters, sorted(set().union(*changed.values())) if changed else []


def changed_quarters(s: Settings) -> tuple[list[str], list[str]]:
    """(quarters in order, families) with something the working warehouse has not taken in."""
    return in_order(scan(s, {}, full_cursor=False)[0])
