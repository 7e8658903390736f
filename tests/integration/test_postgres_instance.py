"""Dagster on PostgreSQL (deploy/dagster-postgres.yaml): a real server from Debian's
package, started by the test on a Unix socket; a refresh's run and its materializations
are found in PostgreSQL's run and event-log tables."""

import shutil
import tempfile
from pathlib import Path

import psycopg2
import pytest

from dagster_project.config import PROJECT_ROOT
from dagster_project.local_postgres import local_postgres
from dagster_project.refresh import refresh

pytestmark = pytest.mark.distributed


def test_a_refresh_records_its_run_and_materializations_in_postgres(copies, tmp_path,
                                                                     monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "deploy" / "dagster-postgres.yaml", home / "dagster.yaml")
    # (not under tmp_path: as root, the server runs as `postgres`, who cannot enter it)
    server = Path(tempfile.mkdtemp(prefix="tsdg-postgres-"))
    with local_postgres(server) as url:
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        monkeypatch.setenv("TSDG_DAGSTER_POSTGRES_URL", url)
        lines = []
        assert refresh(copies, progress=lines.append, quarters=["2024Q2"]) == 0, "\n".join(lines)
        with psycopg2.connect(url) as con, con.cursor() as cur:
            cur.execute("select run_id, status from runs")
            runs = cur.fetchall()
            assert len(runs) == 1 and runs[0][1] == "SUCCESS", runs
            cur.execute("""select asset_key from event_logs where run_id = %s
                           and dagster_event_type = 'ASSET_MATERIALIZATION'""", (runs[0][0],))
            assets = {row[0] for row in cur.fetchall()}
    # every family's raw asset, the marts and the release, materialized by this run
    for key in ("raw", "indicator_values", "release"):
        assert any(key in a for a in assets), (key, sorted(assets))
    assert len(assets) >= 20
    # no SQLite run or event-log storage beside it (storage/ keeps only compute logs)
    assert not [p for p in home.rglob("*.db")] and not (home / "history").exists()
    shutil.rmtree(server)
