"""Dagster's SQLite event log with its database connections kept open.

Dagster's own `SqliteEventLogStorage` creates a SQLAlchemy engine, opens a connection and
disposes of both for every event it stores, twice for an asset event (the run's database
and the index). A first full refresh of the tiny sample stores about 600 events (a planned
and a done materialization for each family and quarter): the open-and-close was about
3.5 s of CPU in a 24 s refresh. This class keeps one connection per database instead, and
changes nothing else: same files, same tables, same locking (every use of a connection
still holds the storage's lock, as Dagster's does, so one connection per database is
enough), so `make dev` reads the runs of `tsdg refresh` and the other way round.

`tsdg refresh` opens its instance with this class (`instance_of`); dagster.yaml does not
name it, as a storage's settings take an absolute folder: a copied or moved warehouse
would go on writing into the old one's event log.
"""

from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import yaml
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
)
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from sqlalchemy import event
from sqlalchemy.pool import StaticPool

# Databases kept open besides the index: a run's own is used by its run and by whoever
# watches it in the UI; older runs' are opened again when someone reads them.
RUN_SHARDS_KEPT = 4


def _normal_sync(connection, _record) -> None:
    connection.execute("pragma synchronous = normal")


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    def __init__(self, base_dir: str, inst_data=None):
        self._engines: OrderedDict = OrderedDict()
        # Schema facts Dagster looks up again for every asset event: whether the index has
        # a table (a new engine and connection each time) and the asset-key index columns
        # (a reflection of the table). Remembered once true: a migration only adds them,
        # and only a wipe removes them.
        self._present: set[str] = set()
        super().__init__(base_dir, inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str):
        engine = self._engines.get(shard)
        if engine is None:
            # One connection per database, used by one thread at a time (under _db_lock);
            # the UI's threads take turns on it, hence check_same_thread off.
            engine = create_engine(
                self.conn_string_for_shard(shard), poolclass=StaticPool,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
                              "check_same_thread": False})
            # Dagster's databases are in WAL mode; with synchronous NORMAL a commit is not
            # flushed to disk (a checkpoint is): a killed process loses nothing, a power
            # cut may lose the last events of the run history (the warehouse and releases
            # are flushed by their own writers). About 1.6 ms less per event, 600 events a
            # first tiny refresh.
            event.listen(engine, "connect", _normal_sync)
            self._engines[shard] = engine
            runs = [s for s in self._engines if s != INDEX_SHARD_NAME]
            for old in runs[:-RUN_SHARDS_KEPT]:
                self._engines.pop(old).dispose()
        else:
            self._engines.move_to_end(shard)
        return engine

    @contextmanager
    def _connect(self, shard: str):
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def _remembered(self, fact: str, look_up, *args) -> bool:
        if fact not in self._present and look_up(*args):
            self._present.add(fact)
        return fact in self._present

    def has_table(self, table_name: str) -> bool:
        return self._remembered(table_name, super().has_table, table_name)

    def _has_asset_key_index_cols_on_connection(self, conn) -> bool:
        return self._remembered("asset_keys.last_materialization_timestamp",
                                super()._has_asset_key_index_cols_on_connection, conn)

    def _close_all(self) -> None:
        with self._db_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()

    def wipe(self) -> None:
        # wipe deletes the runs' database files: none may stay open behind it
        self._close_all()
        self._present.clear()
        super().wipe()

    def dispose(self) -> None:
        self._close_all()
        super().dispose()


def instance_of(home: Path) -> dg.DagsterInstance:
    """The instance of a Dagster home, its SQLite event log kept open; as dagster.yaml says
    when it names a storage of its own (PostgreSQL: deploy/dagster-postgres.yaml)."""
    settings = yaml.safe_load((home / "dagster.yaml").read_text(encoding="utf-8")) or {}
    if {"storage", "event_log_storage"} & settings.keys():
        return dg.DagsterInstance.from_config(str(home))
    pooled = {"module": __name__, "class": PooledSqliteEventLogStorage.__name__,
              # Dagster's own folder for a SQLite home's event log
              "config": {"base_dir": str(home.resolve() / "history" / "runs")}}
    return dg.DagsterInstance.from_ref(
        InstanceRef.from_dir(str(home), overrides={"event_log_storage": pooled}))
