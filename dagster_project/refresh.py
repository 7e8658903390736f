"""`tsdg refresh`: the Dagster definitions run in-process — ingest every quarter that has
files (one single-run backfill), then build, test and publish."""

import os
import time
import warnings
from collections import Counter

import dagster as dg

from dagster_project.config import FAMILIES, Settings
from dagster_project.defs.partitions import quarterly
from dagster_project.defs.resources import WarehouseResource
from dagster_project.ingest.files import landed_files

warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)


# Dagster's console logger at INFO: the assets' own progress lines and failures, without
# the per-event debug stream (all events are still in the run's event log).
QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def quarters_with_files(s: Settings) -> list[str]:
    found = set()
    for family in FAMILIES:
        for landed in landed_files(s.sources_dir, family)[0]:
            found.update(landed.partitions)
    return [k for k in quarterly.get_partition_keys() if k in found]


def instance() -> dg.DagsterInstance:
    """The persistent instance when DAGSTER_HOME is set (runs then show in `dagster dev`)."""
    return dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()


def _run(assets, resources, progress, tags=None, what=""):
    started = time.monotonic()
    result = dg.materialize(assets, resources=resources, instance=instance(), tags=tags,
                            raise_on_error=False, run_config=QUIET)
    materialized = Counter()
    for event in result.all_events:
        if event.event_type_value == "ASSET_MATERIALIZATION":
            materialized[event.asset_key.to_user_string()] += 1
        elif event.event_type_value == "STEP_FAILURE":
            progress(f"  FAILED {event.step_key}: {_root_cause(event.event_specific_data.error)}")
    for key, n in materialized.items():
        progress(f"  materialized {key}" + (f" ({n} partitions)" if n > 1 else ""))
    progress(f"{what}: {'ok' if result.success else 'FAILED'} in {time.monotonic() - started:.1f} s")
    return result.success


def _root_cause(error) -> str:
    """The innermost error's message: our own (e.g. which file, row and column), not
    Dagster's 'error occurred while executing op' wrapper."""
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


def refresh(s: Settings, progress=print) -> int:
    from dagster_project.definitions import BUILD_ASSETS, resources
    from dagster_project.defs.ingest.assets import ingest_assets

    warehouse = WarehouseResource(sources_dir=str(s.sources_dir), warehouse_dir=str(s.warehouse_dir))
    res = resources(warehouse)
    quarters = quarters_with_files(s)
    if not quarters:
        progress(f"no source files under {s.sources_dir}")
        return 2
    progress(f"ingesting {quarters[0]}..{quarters[-1]} from {s.sources_dir}")
    tags = {"dagster/asset_partition_range_start": quarters[0],
            "dagster/asset_partition_range_end": quarters[-1]}
    if not _run(ingest_assets, res, progress, tags, "ingest"):
        return 1
    progress("building marts (dbt build) and publishing")
    if not _run(BUILD_ASSETS, res, progress, what="build and publish"):
        return 1
    latest = s.releases_dir / "latest"
    progress(f"release: {latest.resolve()}")
    return 0
