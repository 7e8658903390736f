"""Resources: where the sources and the warehouse are (one Settings object, DOMAIN.md §7)."""

from contextlib import contextmanager

import dagster as dg

from dagster_project.config import Settings, settings
from dagster_project.warehouse_lock import RefreshBusy, refresh_lock


class WarehouseResource(dg.ConfigurableResource):
    """Paths shared by every asset; defaults follow TSDG_SOURCES_DIR / TSDG_WAREHOUSE_DIR."""

    sources_dir: str
    warehouse_dir: str
    build_database: str | None = None  # a refresh's build file (write-audit-publish)

    @property
    def settings(self) -> Settings:
        return settings(self.sources_dir, self.warehouse_dir, self.build_database)

    @contextmanager
    def writing(self):
        """Hold the warehouse lock while a step writes. Under `tsdg refresh` (a build file
        is set) the refresh already holds it; a run from the UI, a schedule or a sensor
        takes it here and fails with a clear message if a refresh is writing."""
        if self.build_database:
            yield
            return
        try:
            with refresh_lock(self.settings):
                yield
        except RefreshBusy as exc:
            raise dg.Failure(description=str(exc)) from None


def default_warehouse() -> WarehouseResource:
    s = settings()
    return WarehouseResource(sources_dir=str(s.sources_dir), warehouse_dir=str(s.warehouse_dir))
