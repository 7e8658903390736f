"""Resources: where the sources and the warehouse are (one Settings object, DOMAIN.md §7)."""

import dagster as dg

from dagster_project.config import Settings, settings


class WarehouseResource(dg.ConfigurableResource):
    """Paths shared by every asset; defaults follow TSDG_SOURCES_DIR / TSDG_WAREHOUSE_DIR."""

    sources_dir: str
    warehouse_dir: str
    build_database: str | None = None  # a refresh's build file (write-audit-publish)

    @property
    def settings(self) -> Settings:
        return settings(self.sources_dir, self.warehouse_dir, self.build_database)


def default_warehouse() -> WarehouseResource:
    s = settings()
    return WarehouseResource(sources_dir=str(s.sources_dir), warehouse_dir=str(s.warehouse_dir))
