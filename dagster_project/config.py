"""One settings object for the CLI, Dagster and dbt: where sources, warehouse and key live."""

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt"
REGISTRY_FILE = PROJECT_ROOT / "registry" / "indicators.yml"
FAMILIES = ("training_rosters", "employment_services", "labour_insurance",
            "county_submissions", "programme_tallies")


@dataclass(frozen=True)
class Settings:
    sources_dir: Path
    warehouse_dir: Path

    @property
    def database(self) -> Path:
        """The working warehouse every refresh writes; releases are copies of its marts."""
        return self.warehouse_dir / "tsdg.duckdb"

    @property
    def releases_dir(self) -> Path:
        return self.warehouse_dir / "releases"

    @property
    def key_file(self) -> Path:
        return Path(os.environ.get("TSDG_KEY_FILE", PROJECT_ROOT / ".tsdg" / "pseudonym.key"))


def settings(sources: str | Path | None = None, warehouse: str | Path | None = None) -> Settings:
    sources = sources or os.environ.get("TSDG_SOURCES_DIR") or PROJECT_ROOT / "sources" / "landing"
    warehouse = warehouse or os.environ.get("TSDG_WAREHOUSE_DIR") or PROJECT_ROOT / "warehouse"
    return Settings(Path(sources).resolve(), Path(warehouse).resolve())
