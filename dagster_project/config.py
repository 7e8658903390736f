"""One settings object for the CLI, Dagster and dbt: where sources, warehouse and key live."""

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt"
REGISTRY_FILE = PROJECT_ROOT / "registry" / "indicators.yml"
SOURCES_REGISTRY_FILE = PROJECT_ROOT / "registry" / "sources.yml"
# DuckDB takes 80 % of RAM by default; a bound keeps peak memory flat as data grows
# (DuckDB spills to disk beyond it). It bounds DuckDB's buffers, not a process: what each
# process peaked at under it, scale 10, is in the README (Benchmarks).
# dbt gets it through the build's vars (dbt_manifest.BUILD_VARS).
DUCKDB_MEMORY_LIMIT = os.environ.get("TSDG_DUCKDB_MEMORY_LIMIT", "1.5GB")
DUCKDB_CONFIG = {"memory_limit": DUCKDB_MEMORY_LIMIT}
# The ingest's connections share their process with Dagster, the run and what it imported
# (about half a GiB), and DuckDB holds memory outside its buffer manager while it inserts:
# with DuckDB's 1.5 GB there, that process peaked at 2,103 MiB at scale 10 (2,065 with
# 1.25 GB), where dbt's and GX's processes (DuckDB and little else) stayed under 1.8 GiB.
# The employment-service records' 36 quarters alone: 1,987 MiB with 1.25 GB, 1,865 with
# 1 GB, no slower. A lower limit for the ingest alone keeps every process within 2 GiB.
INGEST_MEMORY_LIMIT = os.environ.get("TSDG_INGEST_MEMORY_LIMIT", "1GB")
INGEST_DUCKDB_CONFIG = {"memory_limit": INGEST_MEMORY_LIMIT}
# While a person-level pass is checked, two DuckDBs share the ingest process: the door's
# own, in memory (ingest/person_level.py: it reads, checks and pseudonymises, and cannot
# spill, so it keeps INGEST_MEMORY_LIMIT), and the family's workspace, which only receives
# the pass's pseudonymised rows and may spill. With 1 GB each, scale 10 peaked at 2,183 MiB.
WORKSPACE_MEMORY_LIMIT = os.environ.get("TSDG_WORKSPACE_MEMORY_LIMIT", "384MB")
WORKSPACE_DUCKDB_CONFIG = {"memory_limit": WORKSPACE_MEMORY_LIMIT}
# The warehouse's DuckDB file, and a build's copy of it (builds/<run id>/).
DATABASE_NAME = "tsdg.duckdb"


@dataclass(frozen=True)
class Settings:
    sources_dir: Path
    warehouse_dir: Path
    build_database: Path | None = None  # set during a refresh: the file being built

    @property
    def working_database(self) -> Path:
        """The last good warehouse (raw partitions, marts); refreshes build on a copy."""
        return self.warehouse_dir / DATABASE_NAME

    @property
    def database(self) -> Path:
        """The file the assets read and write: the build of a refresh, else the working one."""
        return self.build_database or self.working_database

    @property
    def validation_file(self) -> Path:
        """Validation results of the build in `database`, read by the publish step."""
        return self.database.parent / "validation.json"

    @property
    def releases_dir(self) -> Path:
        return self.warehouse_dir / "releases"

    @property
    def quarantine_dir(self) -> Path:
        """Refused files, moved whole out of the landing area, with their reports."""
        return self.warehouse_dir / "quarantine"

    @property
    def key_file(self) -> Path:
        return Path(os.environ.get("TSDG_KEY_FILE", PROJECT_ROOT / ".tsdg" / "pseudonym.key"))


def settings(sources: str | Path | None = None, warehouse: str | Path | None = None,
             build_database: str | Path | None = None) -> Settings:
    sources = sources or os.environ.get("TSDG_SOURCES_DIR") or PROJECT_ROOT / "sources" / "landing"
    warehouse = warehouse or os.environ.get("TSDG_WAREHOUSE_DIR") or PROJECT_ROOT / "warehouse"
    return Settings(Path(sources).resolve(), Path(warehouse).resolve(),
                    Path(build_database).resolve() if build_database else None)
