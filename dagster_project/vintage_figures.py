"""`tsdg figures --vintage-as-of TIME`: the indicators as they were computed from the
submissions the warehouse had taken in by TIME (earlier vintages of resubmitted files).

Runs the dbt models with the `vintage_as_of` var on a scratch copy of the working
warehouse; the working warehouse and the releases are not touched.
"""

import json
import os
import shutil
import subprocess
import tempfile
from datetime import datetime
from pathlib import Path

import duckdb

from dagster_project.config import DBT_PROJECT_DIR, DUCKDB_MEMORY_LIMIT, Settings
from dagster_project.dbt_manifest import DBT_EXECUTABLE
from dagster_project.publish.release import INDICATORS_CSV, _write_csv


def figures_as_of(s: Settings, as_of: str, out: Path, progress=print) -> int:
    """Write indicators.csv (the release layout) for `as_of` to `out`; returns its rows."""
    try:
        moment = datetime.fromisoformat(as_of)
    except ValueError:
        raise ValueError(f"--vintage-as-of must be an ISO time such as '2026-01-15 12:00' "
                         f"(UTC, as in marts.submission_files.loaded_at), not {as_of!r}") from None
    if not s.working_database.exists():
        raise FileNotFoundError(f"no warehouse at {s.working_database}: run `tsdg refresh` first")
    with tempfile.TemporaryDirectory(prefix="tsdg-vintage-") as scratch:
        database = Path(scratch) / "vintage.duckdb"
        shutil.copy2(s.working_database, database)
        progress(f"building the indicators as of vintage {moment:%Y-%m-%d %H:%M:%S} on a scratch copy")
        completed = subprocess.run(
            [DBT_EXECUTABLE, "run", "--quiet", "--select", "+indicator_values",
             # The whole moment, microseconds included: truncated to the second, files loaded
             # later in that second (the newest vintage, typically) fell out of the build.
             "--vars", json.dumps({"vintage_as_of": moment.isoformat(sep=" ")}),
             "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
             "--target-path", str(Path(scratch) / "target")],
            env={**os.environ, "DO_NOT_TRACK": "1", "TSDG_DATABASE": str(database),
                 "TSDG_DUCKDB_MEMORY_LIMIT": DUCKDB_MEMORY_LIMIT},
            cwd=DBT_PROJECT_DIR, capture_output=True, text=True)
        if completed.returncode != 0:
            raise RuntimeError(f"dbt run failed:\n{completed.stdout}\n{completed.stderr}")
        out.mkdir(parents=True, exist_ok=True)
        with duckdb.connect(str(database), read_only=True) as con:
            rows = _write_csv(con, INDICATORS_CSV, out / "indicators.csv")
            files = con.execute("""select family, file_name, vintage, loaded_at from raw.landed_files
                                   where state in ('loaded', 'superseded') and loaded_at <= ?
                                   qualify row_number() over (partition by family, submitter, period
                                                              order by vintage desc) = 1
                                   order by family, file_name""", [moment]).fetchall()
        (out / "vintages.json").write_text(json.dumps(
            {"vintage_as_of": moment.isoformat(),
             "files": [{"family": f, "file": n, "vintage": v, "loaded_at": t.isoformat()}
                       for f, n, v, t in files]}, ensure_ascii=False, indent=1), encoding="utf-8")
    progress(f"{rows} figures written to {out / 'indicators.csv'} (files used: {out / 'vintages.json'})")
    return rows
