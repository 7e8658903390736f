"""The landing sensor: new or changed files under the sources directory request exactly
their family × quarter partitions, and the build downstream once.

The cursor maps each landed file to (size, mtime_ns, sha256): a file is hashed only when
its size or time changed, and a touched-but-identical file requests nothing. A sensor
starting without a cursor counts what the warehouse already holds as seen.
"""

import hashlib
import json

import dagster as dg
import duckdb

from dagster_project.config import Settings
from dagster_project.defs.operations.jobs import DOWNSTREAM_KEYS, refresh_job
from dagster_project.defs.partitions import quarterly
from dagster_project.defs.resources import WarehouseResource
from dagster_project.ingest.files import digest_of, irregular_entries, landed_files
from dagster_project.lib.source_contract import family_names


class WarehouseBusy(RuntimeError):
    pass


def _received(s: Settings) -> set[tuple[str, str, str]]:
    """(family, file name, sha256) the warehouse has loaded."""
    if not s.working_database.exists():
        return set()
    try:
        with duckdb.connect(str(s.working_database), read_only=True) as con:
            tables = {r[0] for r in con.sql("select table_schema || '.' || table_name "
                                            "from information_schema.tables").fetchall()}
            if "raw.landed_files" not in tables:
                return set()
            return set(con.sql("""select family, file_name, file_sha256 from raw.landed_files
                                  where state in ('loaded', 'superseded')""").fetchall())
    except duckdb.IOException as exc:  # a writer holds the file
        raise WarehouseBusy(str(exc)) from None


def scan(s: Settings, cursor: dict) -> tuple[dict[str, set[str]], dict]:
    """({quarter: families with new content}, new cursor)."""
    received = _received(s) if not cursor else set()
    current, changed = {}, {}
    for family in family_names():
        good, misnamed = landed_files(s.sources_dir, family)
        # Misnamed files and entries that are not regular files are refused by any ingest
        # run: ask for one (the newest quarter) so they get their verdict.
        refused = misnamed + [p for p, _ in irregular_entries(s.sources_dir, family)]
        for path, partitions in [(f.path, f.partitions) for f in good] + [
                (p, (quarterly.get_last_partition_key(),)) for p in refused]:
            key, stat = f"{family}/{path.name}", path.lstat()
            seen = cursor.get(key)
            if seen and seen[:2] == [stat.st_size, stat.st_mtime_ns]:
                current[key] = seen
                continue
            sha = digest_of(path)[0] or "not a regular file"
            current[key] = [stat.st_size, stat.st_mtime_ns, sha]
            if (seen and seen[2] == sha) or (family, path.name, sha) in received:
                continue
            for partition in partitions:
                changed.setdefault(partition, set()).add(family)
    return changed, current


@dg.sensor(
    name="landing_sensor",
    job=refresh_job,
    minimum_interval_seconds=60,
    description="Watches the sources directory; new or changed files launch the ingest of "
                "exactly their family × quarter partitions, then one build and publish.",
)
def landing_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
    cursor = json.loads(context.cursor) if context.cursor else {}
    try:
        changed, current = scan(warehouse.settings, cursor)
    except WarehouseBusy:
        return dg.SkipReason("the warehouse is being written; looking again at the next tick")
    quarters = [k for k in quarterly.get_partition_keys() if k in changed]
    tick = hashlib.sha256(json.dumps(current, sort_keys=True).encode()).hexdigest()[:12]
    requests = []
    for i, quarter in enumerate(quarters):
        families = sorted(changed[quarter])
        selection = [dg.AssetKey(["raw", f]) for f in families]
        # The run queue runs one at a time in order: the last run builds once for all.
        if i == len(quarters) - 1:
            selection += DOWNSTREAM_KEYS
        requests.append(dg.RunRequest(
            run_key=f"landing-{quarter}-{'-'.join(families)}-{tick}",
            partition_key=quarter, asset_selection=selection,
            tags={"tsdg/trigger": "landing_sensor", "tsdg/families": ",".join(families)}))
    if requests:
        context.log.info(f"new or changed files in {len(quarters)} quarter(s): "
                         + "; ".join(f"{q} {','.join(sorted(changed[q]))}" for q in quarters))
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(current, sort_keys=True),
                           skip_reason=None if requests else "no new or changed files")
