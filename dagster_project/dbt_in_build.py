"""`tsdg-dbt`: dbt, started in the folder of the build it writes.

dbt reuses its parse state only if the profile and the --vars are those it was made with.
A build's DuckDB file is at a different path in every warehouse, so a path in the profile
made every new warehouse (each test, each benchmark round, a first refresh) parse the whole
project again: about 4 s of a 45 s tiny refresh. The profile names the build's file by its
name alone ("tsdg.duckdb"), and this starts dbt where that name resolves to the build: the
folder holding the invocation's target path (dagster-dbt passes it as DBT_TARGET_PATH; the
build's dbt_target/ lives beside its DuckDB file). Profile and vars are then the same in
every warehouse, and the parse state made at setup (dbt_manifest.py) applies from the first
refresh on.
"""

import json
import os
import sys
from pathlib import Path

# The models this build keeps as they are (model_reuse.py), a JSON list of names written by
# the dbt asset beside the build's file.
EXCLUDE_FILE = "dbt_exclude.json"


def main() -> None:
    os.chdir(Path(os.environ["DBT_TARGET_PATH"]).resolve().parent)
    # Excluded here, not in the arguments dagster-dbt is given: it would evaluate the
    # selection with dbt in its own process (lean_dagster_dbt.py).
    excluded = Path(EXCLUDE_FILE)
    if sys.argv[1:2] == ["build"] and excluded.exists():
        sys.argv += ["--exclude", *json.loads(excluded.read_text(encoding="utf-8"))]
    # dbt forked from the dbt server of the process that started this one, when it has one
    # (dbt_server.py: dbt imported and the project parsed once per process).
    from dagster_project.dbt_server import run_via_server

    code = run_via_server(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    from dbt.cli.main import cli

    sys.exit(cli())
