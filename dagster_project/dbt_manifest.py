"""The dbt manifest the Dagster definitions are built from, prepared before they load.

`dbt parse` (its parse state seeds every build's), then `dbt docs generate --static` (the
documentation site each release carries), run when the manifest is missing or older than a
model, macro or config file. `make setup`, `tsdg refresh`, `tsdg` commands that load the
definitions and the test suite call it first; importing the definitions never parses
(under `dagster dev`, `make dev` prepares it the same way).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from dagster_project.config import DATABASE_NAME, DBT_PROJECT_DIR, DUCKDB_MEMORY_LIMIT

# The dbt of this interpreter's environment, whether or not the venv is on PATH.
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")
# The same dbt, started in the folder of the build it writes (dagster_project/dbt_in_build.py).
DBT_IN_BUILD = str(Path(sys.executable).parent / "tsdg-dbt")
# The --vars of every build: its file by name, which dbt_in_build resolves to the build's
# file. The same in every warehouse, so the parse state made here serves every build.
BUILD_VARS = {"tsdg_database": DATABASE_NAME, "tsdg_memory_limit": DUCKDB_MEMORY_LIMIT}
MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"
# dbt's documentation site as one file (models, columns, lineage), copied into each release.
DOCS_SITE = DBT_PROJECT_DIR / "target" / "static_index.html"
OUTPUT_DIRS = {"target", "logs", "dbt_packages"}


def newest_project_file() -> float:
    """The modification time of the dbt project's newest model, macro or config file."""
    # Every folder but dbt's outputs: target/ holds a folder per dbt invocation, and walking
    # it cost seconds per refresh once a few hundred had accumulated.
    sources = [p for folder in DBT_PROJECT_DIR.iterdir() if folder.is_dir()
               and folder.name not in OUTPUT_DIRS for p in folder.rglob("*")
               if p.suffix in (".sql", ".yml")]
    sources += DBT_PROJECT_DIR.glob("*.yml")  # dbt_project.yml, profiles.yml
    return max(p.stat().st_mtime for p in sources)


def ensure_manifest() -> Path:
    newest = newest_project_file()
    if (not MANIFEST.exists() or newest > MANIFEST.stat().st_mtime or not DOCS_SITE.exists()
            or newest > DOCS_SITE.stat().st_mtime):
        # The docs describe the project, not a warehouse: no database is opened, no
        # catalog, no compilation — one parse, then the site from its manifest. Both with a
        # build's vars: target/ keeps the parse state of a build's profile and vars, which
        # each build starts from (dagster-dbt copies it into the build's target path).
        env = {**os.environ, "DO_NOT_TRACK": "1"}
        common = ["--quiet", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir",
                  str(DBT_PROJECT_DIR), "--vars", json.dumps(BUILD_VARS)]
        subprocess.run([DBT_EXECUTABLE, "parse", *common], check=True, env=env, cwd=DBT_PROJECT_DIR)
        subprocess.run([DBT_EXECUTABLE, "docs", "generate", "--static", "--empty-catalog",
                        "--no-compile", *common], check=True, env=env, cwd=DBT_PROJECT_DIR)
    return MANIFEST


if __name__ == "__main__":
    print(ensure_manifest())
