"""The dbt manifest the Dagster definitions are built from, prepared before they load.

`dbt parse` (then `dbt docs generate --static`, the documentation site each release
carries) runs when the manifest is missing or older than a model, macro or config file.
`make setup`, `tsdg refresh`, `tsdg` commands that load the definitions and the test suite
call it first; importing the definitions never parses (under `dagster dev`, `make dev`
prepares it the same way).
"""

import os
import subprocess
import sys
from pathlib import Path

from dagster_project.config import DBT_PROJECT_DIR

# The dbt of this interpreter's environment, whether or not the venv is on PATH.
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")
MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"
# dbt's documentation site as one file (models, columns, lineage), copied into each release.
DOCS_SITE = DBT_PROJECT_DIR / "target" / "static_index.html"
OUTPUT_DIRS = {"target", "logs", "dbt_packages"}


def ensure_manifest() -> Path:
    # Every folder but dbt's outputs: target/ holds a folder per dbt invocation, and walking
    # it cost seconds per refresh once a few hundred had accumulated.
    sources = [p for folder in DBT_PROJECT_DIR.iterdir() if folder.is_dir()
               and folder.name not in OUTPUT_DIRS for p in folder.rglob("*")
               if p.suffix in (".sql", ".yml")]
    sources += DBT_PROJECT_DIR.glob("*.yml")  # dbt_project.yml, profiles.yml
    newest = max(p.stat().st_mtime for p in sources)
    if (not MANIFEST.exists() or newest > MANIFEST.stat().st_mtime or not DOCS_SITE.exists()
            or newest > DOCS_SITE.stat().st_mtime):
        # The docs describe the project, not a warehouse: no database (":memory:"), no
        # catalog, no compilation — one parse, then the site from its manifest.
        env = {**os.environ, "DO_NOT_TRACK": "1", "TSDG_DATABASE": ":memory:"}
        common = ["--quiet", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir",
                  str(DBT_PROJECT_DIR)]
        subprocess.run([DBT_EXECUTABLE, "parse", *common], check=True, env=env, cwd=DBT_PROJECT_DIR)
        subprocess.run([DBT_EXECUTABLE, "docs", "generate", "--static", "--empty-catalog",
                        "--no-compile", *common], check=True, env=env, cwd=DBT_PROJECT_DIR)
    return MANIFEST


if __name__ == "__main__":
    print(ensure_manifest())
