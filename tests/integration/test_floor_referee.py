"""The benchmark's floor (benchmarks/floor.py) is a second derivation of every figure: its own
SQL over the landed files, no code of the product. It must agree with the release on every
published value, or the product/floor ratio would compare different work."""

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _load_compare():
    spec = importlib.util.spec_from_file_location("benchmark_compare", BENCHMARKS / "compare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


agreement = _load_compare().agreement


def _floor(landing: Path, out: Path) -> None:
    subprocess.run([sys.executable, str(BENCHMARKS / "floor.py"), str(landing), str(out)],
                   check=True, capture_output=True)


def _floor_imports_nothing_of_the_product() -> None:
    tree = ast.parse((BENCHMARKS / "floor.py").read_text(encoding="utf-8"))
    modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names}
    modules |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert modules and not {m for m in modules if m.split(".")[0] == "dagster_project"}


def test_the_floor_agrees_with_the_tiny_release_on_every_published_value(tiny_refreshed, tmp_path):
    _floor_imports_nothing_of_the_product()
    out = tmp_path / "floor.parquet"
    _floor(tiny_refreshed.sources_dir, out)
    release = (tiny_refreshed.releases_dir / "latest").resolve()
    agreed = agreement(out, release)
    assert agreed["missing_in_floor"] == 0
    assert agreed["equal"] == agreed["published"] > 4000, agreed

    # The comparison can fail: one value moved by a millionth is caught, and so is one left out.
    moved, dropped = tmp_path / "moved.parquet", tmp_path / "dropped.parquet"
    with duckdb.connect() as con:  # not the module's default connection, shared by the process
        con.execute(f"""copy (select * replace (case when indicator_code = '8.6.1'
                               and measure = 'rate' and as_of = date '2024-12-31'
                               and window_start = date '2021-01-01'
                               then indicator_value + 1e-6 else indicator_value end
                               as indicator_value) from '{out}') to '{moved}'""")
        con.execute(f"""copy (select * from '{out}' where not (indicator_code = '1.3.1'
                               and as_of = date '2021-12-31')) to '{dropped}'""")
    assert agreement(moved, release)["equal"] == agreed["published"] - 1
    assert agreement(dropped, release)["missing_in_floor"] == 1


@pytest.mark.e2e
def test_the_floor_agrees_with_the_scale_1_release_on_every_published_value(refreshed, tmp_path):
    out = tmp_path / "floor.parquet"
    _floor(refreshed.sources_dir, out)
    agreed = agreement(out, (refreshed.releases_dir / "latest").resolve())
    assert agreed["missing_in_floor"] == 0
    assert agreed["equal"] == agreed["published"] > 4000, agreed
