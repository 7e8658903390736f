"""The landing sensor: new or changed files under the sources directory request one run
that ingests their families over the range of their quarters, then builds and publishes.

The cursor maps each landed file to (size, mtime_ns, sha256): a file is hashed only when
its size or time changed, and a touched-but-identical file requests nothing. A sensor
starting without a cursor counts what the warehouse already holds as seen.
"""

import hashlib
import json

import dagster as dg

from dagster_project.defs.operations.jobs import DOWNSTREAM_KEYS, range_tags, refresh_job
from dagster_project.defs.resources import WarehouseResource
from dagster_project.ingest.changes import WarehouseBusy, in_order, scan


@dg.sensor(
    name="landing_sensor",
    job=refresh_job,
    minimum_interval_seconds=60,
    description="Watches the sources directory; new or changed files launch one run: the "
                "ingest of their families over their quarters, then the build and publication.",
)
def landing_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
    cursor = json.loads(context.cursor) if context.cursor else {}
    try:
        changed, current = scan(warehouse.settings, cursor)
    except WarehouseBusy:
        return dg.SkipReason("the warehouse is being written; looking again at the next tick")
    quarters, families = in_order(changed)
    tick = hashlib.sha256(json.dumps(current, sort_keys=True).encode()).hexdigest()[:12]
    requests = []
    if quarters:
        # One run for everything new: each run builds and publishes on its own copy of the
        # warehouse (write-audit-publish), so separate runs would publish partial releases.
        selection = [dg.AssetKey(["raw", f]) for f in families] + DOWNSTREAM_KEYS
        requests.append(dg.RunRequest(
            run_key=f"landing-{quarters[0]}-{quarters[-1]}-{tick}",
            asset_selection=selection,
            tags={**range_tags(quarters), "tsdg/trigger": "landing_sensor",
                  "tsdg/families": ",".join(families)}))
        context.log.info(f"new or changed files in {len(quarters)} quarter(s): "
                         + "; ".join(f"{q} {','.join(sorted(changed[q]))}" for q in quarters))
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(current, sort_keys=True),
                           skip_reason=None if requests else "no new or changed files")
