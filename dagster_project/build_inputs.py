"""What a release is built from besides the landed files: the registry, the dbt models,
the GX suites, the reference data and the code, today's date (a submission becomes
overdue when its deadline passes: dbt's `submission_status` reads `current_date`), and the
warehouse file as the release's run left it (size and modification time: a file changed by
anything but a run is rebuilt from, never trusted).

The release manifest records them (`build_inputs`); a `tsdg refresh` that finds no changed
landed file and the latest release built from the same inputs has nothing to do.
"""

import hashlib
from datetime import date
from pathlib import Path

from dagster_project.config import PROJECT_ROOT
from dagster_project.lib import source_contract

# Folders (and files) of the project whose content can change what a release holds.
INPUTS = ("dagster_project", "registry", "expectations", "dbt/models", "dbt/macros",
          "dbt/dbt_project.yml", "dbt/profiles.yml")
SUFFIXES = {".py", ".yml", ".yaml", ".sql", ".json", ".csv", ".html", ".css"}


def project_sha256() -> str:
    """One digest of every project file that can change what a build holds, and of the
    contract in use."""
    digest = hashlib.sha256()
    for name in INPUTS:
        root = PROJECT_ROOT / name
        files = [root] if root.is_file() else sorted(
            p for p in root.rglob("*") if p.suffix in SUFFIXES and "__pycache__" not in p.parts)
        for path in files:
            digest.update(str(path.relative_to(PROJECT_ROOT)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    # The contract in use, wherever it lives (a draft adopted from elsewhere included).
    digest.update(source_contract.SOURCES_REGISTRY_FILE.read_bytes())
    return digest.hexdigest()


def build_inputs(database: Path, today: date | None = None) -> dict:
    stat = database.stat() if database.exists() else None
    return {"project_sha256": project_sha256(),
            "date": (today or date.today()).isoformat(),
            "warehouse_file": f"{stat.st_size} bytes, mtime {stat.st_mtime_ns}" if stat else None}
