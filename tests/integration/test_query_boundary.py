"""`tsdg query` and the documented Python access are confined to the release: reads of
the release's own tables work as before; files, other databases, extensions and settings
are refused with a message that says so; rows and time are bounded."""

import subprocess
import sys

import pandas as pd
import pytest

from dagster_project.publish import access
from dagster_project.publish.access import RELEASE_DB

REFUSED = {
    "select * from read_csv('/etc/passwd')": "reads only the release's own tables",
    "select * from read_parquet('/tmp/x.parquet')": "reads only the release's own tables",
    "select * from glob('/*')": "reads only the release's own tables",
    "copy (select 1) to '{tmp}/x.csv'": "COPY statements are not run",
    "attach '{warehouse}/tsdg.duckdb' as w": "ATTACH statements are not run",
    "install httpfs": "LOAD statements are not run",
    "load httpfs": "LOAD statements are not run",
    "set enable_external_access = true": "SET statements are not run",
    "export database '{tmp}/dump'": "EXPORT statements are not run",
    "drop table indicator_values": "DROP statements are not run",
    "create table x as select 1": "CREATE statements are not run",
}


def _tsdg(*args):
    return subprocess.run([sys.executable, "-m", "dagster_project.cli", "query", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("sql", REFUSED, ids=list(REFUSED))
def test_a_statement_outside_the_release_is_refused_with_a_message(sql, tiny_refreshed, tmp_path):
    from dagster_project.cli import main

    text = sql.format(tmp=tmp_path, warehouse=tiny_refreshed.warehouse_dir)
    code = main(["query", "--warehouse", str(tiny_refreshed.warehouse_dir), text])
    assert code == 1
    assert not list(tmp_path.iterdir())  # nothing written anywhere


def test_refusals_name_the_reason(tiny_refreshed, tmp_path, capsys):
    from dagster_project.cli import main

    for sql, message in REFUSED.items():
        main(["query", "--warehouse", str(tiny_refreshed.warehouse_dir),
              sql.format(tmp=tmp_path, warehouse=tiny_refreshed.warehouse_dir)])
        err = capsys.readouterr().err
        assert err.startswith("query refused: ") and message in err, (sql, err)


def test_the_readme_query_works_as_a_process_and_exits_cleanly(tiny_refreshed):
    result = _tsdg("--warehouse", str(tiny_refreshed.warehouse_dir),
                   "select as_of, display_value, numerator, denominator from indicator_values "
                   "where indicator_code = '8.5.3' and measure = 'rate' and is_headline "
                   "and month(as_of) = 12 order by as_of")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "as_of,display_value,numerator,denominator" and len(lines) >= 5
    assert "leaked" not in result.stderr and result.stderr == ""


def test_rows_and_time_are_bounded(tiny_refreshed):
    many = _tsdg("--warehouse", str(tiny_refreshed.warehouse_dir), "--max-rows", "5",
                 "select * from range(100)")
    assert many.returncode == 0 and many.stdout.splitlines() == ["range", "0", "1", "2", "3", "4"]
    assert "stopped at 5 rows" in many.stderr
    slow = _tsdg("--warehouse", str(tiny_refreshed.warehouse_dir), "--timeout", "1",
                 "select count(*) from range(1000000) a, range(1000000) b")
    assert slow.returncode == 1 and "stopped after 1 s" in slow.stderr


def test_the_python_access_is_confined_too(tiny_refreshed):
    release = (tiny_refreshed.releases_dir / "latest").resolve() / RELEASE_DB
    engine = access.engine(release)
    try:
        frame = pd.read_sql("""select county_name_zh, report_year, report_quarter, coverage_rate
                               from marts.county_programme_quarterly where report_year = 2024""",
                            engine)
        assert len(frame) == 22 * 4
        with pytest.raises(Exception, match="disabled by configuration"):
            pd.read_sql("select * from read_csv('/etc/passwd')", engine)
        with pytest.raises(Exception, match="locked"):
            pd.read_sql("set enable_external_access = true; select 1", engine)
    finally:
        engine.dispose()
    with access.connect(release) as con:
        assert con.execute("select count(*) from indicator_values").fetchone()[0] > 1000
