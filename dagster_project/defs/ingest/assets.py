"""One asset per source family: sources/<family>/ → raw.<family>, partitioned by quarter."""

import logging
import warnings
from datetime import UTC, datetime

import dagster as dg
import duckdb

from dagster_project.config import WORKSPACE_DUCKDB_CONFIG
from dagster_project.defs.partitions import quarterly
from dagster_project.defs.resources import WarehouseResource
from dagster_project.ingest import orders
from dagster_project.ingest.files import irregular_entries, landed_files, strays
from dagster_project.ingest.load import load_partitions, refuse_irregular, refuse_misnamed
from dagster_project.ingest.quarantine import purge_resolved
from dagster_project.ingest.workspace import merged, open_workspace
from dagster_project.lake import stage_partitions
from dagster_project.lib.source_contract import door, family_names

# A line per file or per quarter would be an event each in the run's event log, each a
# write to its storage (a hundredth of a second): files are logged by Python's logging, and
# the event log gets a line per family that names the resubmissions.
FILE_LOG = logging.getLogger("tsdg.ingest")


def build_ingest_asset(family: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=family,
        key_prefix="raw",
        group_name="ingest",
        partitions_def=quarterly,
        backfill_policy=dg.BackfillPolicy.single_run(),
        description=f"{door().family(family).title_zh} — {door().family(family).description}",
        kinds={"duckdb", "python"},
        # The person-level families take most of an ingest's time: with several workers
        # (`tsdg refresh --workers`) they start first, and the small families fill in.
        op_tags={"dagster/priority": "1" if door().is_person_level(family) else "0"},
        check_specs=[dg.AssetCheckSpec(
            "no_quarantined_files", asset=dg.AssetKey(["raw", family]),
            description="Warns when this run refused a file of the family (moved to "
                        "quarantine/<run>/ with a report for its sender).")],
    )
    def _ingest(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        s = warehouse.build(context)
        rows = files = 0
        quarantined, kept = [], []
        refusals = orders.refusals(s)
        settled = {k for k in refusals if k[0] == family
                   and not (s.sources_dir / family / k[1]).is_file()}  # gone: moot
        space = open_workspace(s.database, family, s.quarantine_dir)
        with duckdb.connect(str(space), config=WORKSPACE_DUCKDB_CONFIG) as con:
            good, misnamed = landed_files(s.sources_dir, family)  # the folder listed once
            misnamed += strays(s.sources_dir, family)
            quarantined += refuse_irregular(con, family, irregular_entries(s.sources_dir, family),
                                            s.quarantine_dir, context.run.run_id)
            quarantined += refuse_misnamed(con, family, misnamed, s.quarantine_dir, context.run.run_id)
            resubmitted: dict[str, int] = {}  # a yearly file feeds four quarters: named once
            for load in load_partitions(con, s.sources_dir, family, context.partition_keys,
                                        s.key_file, s.quarantine_dir, context.run.run_id,
                                        log=FILE_LOG.debug, refusals=refusals, files=good):
                quarantined += load.quarantined
                kept += load.kept
                settled |= load.settled
                rows += sum(load.rows.values())
                files += len(load.rows)
                resubmitted |= {name: v for name, v in load.vintages.items() if v > 1}
            again = ", ".join(f"{name} (vintage {v})" for name, v in resubmitted.items())
            context.log.info(f"{family}: {files} files, {rows} rows over "
                             f"{len(context.partition_keys)} quarter(s)"
                             + (f"; resubmissions: {again}" if again else ""))
        with merged(s.database, space, family, s.quarantine_dir) as con:
            stage_partitions(con, s.database.parent, family, context.partition_keys)
            purged = purge_resolved(con, s.quarantine_dir, door().retention_days, datetime.now(UTC)
                                    .replace(tzinfo=None))
        for path in purged:
            context.log.info(f"purged quarantined original {path.name}: a corrected "
                             f"resubmission loaded over {door().retention_days} days ago")
        orders.settle(s, settled)
        for name, problem in kept:
            context.log.warning(f"KEPT {family}/{name}: loaded before, it fails the contract as "
                                f"it now is ({problem}); its figures stay until `tsdg revalidate "
                                "--apply` orders it refused")
        for q in quarantined:
            context.log.warning(f"QUARANTINED {q.file} ({q.total} problem(s)): {q.first_problem} "
                                f"— report {q.report}")
        check = dg.AssetCheckResult(
            check_name="no_quarantined_files", passed=not quarantined,
            severity=dg.AssetCheckSeverity.WARN,
            description=(f"{len(quarantined)} file(s) quarantined: "
                         + "; ".join(f"{q.file} ({q.first_problem})" for q in quarantined[:5])
                         if quarantined else "every landed file loaded"),
            metadata={"quarantined_files": len(quarantined),
                      "reports": "\n".join(str(q.report) for q in quarantined) or "none"})
        return dg.MaterializeResult(check_results=[check], metadata={
            "files": files, "rows": rows, "partitions": len(context.partition_keys),
            "quarantined_files": len(quarantined),
            "kept_failing_files": dg.MetadataValue.md("\n".join(
                f"- `{name}`: {problem}" for name, problem in kept) or "none"),
            "quarantined": dg.MetadataValue.md("\n".join(
                f"- `{q.file}`: {q.first_problem} (report `{q.report}`)" for q in quarantined)
                or "none"),
        })

    return _ingest


with warnings.catch_warnings():
    # One run per range of quarters (the backfill policy) is what the refresh job relies on;
    # Dagster marks the parameter beta, and every step process of a `--workers` run
    # would print that notice again, once per family.
    warnings.simplefilter("ignore", dg.BetaWarning)
    ingest_assets = [build_ingest_asset(f) for f in family_names()]
