"""The event log `tsdg refresh` writes through (connections kept open) is Dagster's own:
what it stores, an instance opened from dagster.yaml alone (`make dev`) reads, and a copied
Dagster home writes into its own files."""

import shutil

import dagster as dg

from dagster_project.config import PROJECT_ROOT
from dagster_project.event_log_storage import (
    RUN_SHARDS_KEPT,
    PooledSqliteEventLogStorage,
    instance_of,
)


@dg.asset(partitions_def=dg.StaticPartitionsDefinition(["a", "b", "c"]))
def counted(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"rows": len(context.partition_key)})


def _home(path):
    path.mkdir()
    shutil.copy(PROJECT_ROOT / "deploy" / "dagster.yaml", path / "dagster.yaml")
    return path


def _materialize(instance, partition):
    return dg.materialize([counted], instance=instance, partition_key=partition).run_id


def test_what_the_pooled_log_stores_the_default_one_reads(tmp_path):
    home = _home(tmp_path / "home")
    with instance_of(home) as instance:
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        runs = [_materialize(instance, p) for p in ("a", "b", "c", "a", "b", "c", "a")]
        # commits not flushed one by one (WAL, synchronous NORMAL = 1; Dagster's FULL = 2)
        storage = instance.event_log_storage
        with storage._connect(runs[-1]) as conn:
            assert conn.exec_driver_sql("pragma synchronous").scalar() == 1
            assert conn.exec_driver_sql("pragma journal_mode").scalar() == "wal"
        # the schema facts looked up for every asset event, remembered once found
        assert {"asset_event_tags", "asset_keys.last_materialization_timestamp"} <= storage._present
        assert storage.has_table("asset_event_tags") and not storage.has_table("no_such_table")
        assert "no_such_table" not in storage._present
    with dg.DagsterInstance.from_config(str(home)) as plain:
        assert type(plain.event_log_storage).__name__ == "SqliteEventLogStorage"
        assert [r.run_id for r in plain.get_runs()] == runs[::-1]
        assert plain.get_materialized_partitions(counted.key) == {"a", "b", "c"}
        latest = plain.get_latest_materialization_event(counted.key)
        assert latest.run_id == runs[-1]
        # every run's own log, written through connections kept open (more runs than kept)
        assert len(runs) > RUN_SHARDS_KEPT
        for run_id in runs:
            steps = [e.dagster_event.event_type_value for e in plain.all_logs(run_id)
                     if e.dagster_event is not None]
            assert steps.count("ASSET_MATERIALIZATION") == 1 and steps[-1] == dg.DagsterEventType.RUN_SUCCESS.value


def test_a_copied_home_writes_its_own_event_log(tmp_path):
    original = _home(tmp_path / "original")
    with instance_of(original) as instance:
        first = _materialize(instance, "a")
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    with instance_of(copy) as instance:
        second = _materialize(instance, "b")
    with dg.DagsterInstance.from_config(str(original)) as plain:
        assert plain.get_latest_materialization_event(counted.key).run_id == first
        assert plain.get_materialized_partitions(counted.key) == {"a"}
    with dg.DagsterInstance.from_config(str(copy)) as plain:
        assert plain.get_latest_materialization_event(counted.key).run_id == second
        assert plain.get_materialized_partitions(counted.key) == {"a", "b"}


def test_a_home_that_names_its_own_storage_keeps_it(tmp_path):
    home = _home(tmp_path / "home")
    with (home / "dagster.yaml").open("a") as settings:
        settings.write(f"storage:\n  sqlite:\n    base_dir: {tmp_path / 'elsewhere'}\n")
    with instance_of(home) as instance:
        assert not isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        _materialize(instance, "a")
    assert (tmp_path / "elsewhere" / "history" / "runs" / "index.db").exists()
