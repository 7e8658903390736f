"""The dbt manifest the Dagster definitions are built from, prepared before they load.

`dbt parse` runs when the manifest is missing or older than a model, macro or config file.
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


def ensure_manifest() -> Path:
    sources = [p for p in DBT_PROJECT_DIR.rglob("*") if p.suffix in (".sql", ".yml")
               and "target" not in p.parts]
    if not MANIFEST.exists() or max(p.stat().st_mtime for p in sources) > MANIFEST.stat().st_mtime:
        subprocess.run([DBT_EXECUTABLE, "parse", "--quiet", "--project-dir", str(DBT_PROJECT_DIR),
                        "--profiles-dir", str(DBT_PROJECT_DIR)],
                       check=True, env={**os.environ, "DO_NOT_TRACK": "1"}, cwd=DBT_PROJECT_DIR)
    return MANIFEST


if __name__ == "__main__":
    print(ensure_manifest())
