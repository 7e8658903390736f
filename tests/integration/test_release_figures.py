"""End to end: the sample through `tsdg refresh` reproduces the published figures."""

import csv
import json
from collections import Counter

import pytest

from dagster_project.dbt_manifest import MANIFEST

# The scale-1 proof: one shared scale-1 build that no test writes to.
pytestmark = pytest.mark.e2e


def _release_rows(s, name):
    with open(s.releases_dir / "latest" / name, encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def test_indicators_csv_reproduces_every_must_match_figure(refreshed, published_figures):
    rows = _release_rows(refreshed, "indicators.csv")
    index = {(r["indicator_code"], r["measure"], r["group"], r["window_start"], r["as_of"]): r
             for r in rows}
    mismatches = []
    checked = 0
    for fig in published_figures:
        if fig["must_match"] != "yes":
            continue
        key = (fig["indicator_code"], fig["measure"], fig["group"], fig["window_start"], fig["as_of"])
        got = index.get(key)
        n = int(fig["round_to"])
        if got is None:
            mismatches.append(f"missing {key}")
        elif round(float(got["value"]), n) != round(float(fig["value"]), n):
            mismatches.append(f"{key}: got {got['value']} want {fig['value']}")
        checked += 1
    print("\n".join(mismatches))
    assert checked == sum(f["must_match"] == "yes" for f in published_figures) > 70
    assert mismatches == []


def test_indicators_csv_contract(refreshed):
    path = refreshed.releases_dir / "latest" / "indicators.csv"
    assert path.read_bytes().startswith("\ufeff".encode())
    rows = _release_rows(refreshed, "indicators.csv")
    assert list(rows[0])[:6] == ["indicator_code", "measure", "group", "window_start", "as_of", "value"]
    stocks = [r for r in rows if r["indicator_code"] == "1.3.1"]
    assert stocks and all(r["window_start"] == "" for r in stocks)
    # each month-end of a flow indicator has its headline and its year-to-date window
    at = [r for r in rows if r["indicator_code"] == "4.3.3" and r["as_of"] == "2024-06-30"]
    assert sorted(r["window_start"] for r in at) == ["2017-01-01", "2024-01-01"]


def test_review_table_achievement(refreshed):
    rows = _release_rows(refreshed, "indicator_progress.csv")
    assert len(rows) == 26
    not_achieved = {r["indicator_code"] for r in rows if r["achieved"] == "not achieved"}
    assert not_achieved == {"8.7.1", "8.7.2"}
    by_key = {(r["indicator_code"], r["measure"], r["group"]): r for r in rows}
    assert float(by_key["8.7.1", "rate_per_1000", "all"]["actual_2024"]) == pytest.approx(0.022)
    assert float(by_key["1.a.2", "count", "all"]["actual_2021"]) == 82752
    assert float(by_key["1.a.2", "count", "all"]["actual_2024"]) == 73344


def test_manifest_lists_sources_and_validation(refreshed, sample):
    manifest = json.loads((refreshed.releases_dir / "latest" / "manifest.json").read_text())
    files = {(f["family"], f["file"]) for f in manifest["source_files"]}
    # names only: no server path is published
    assert not any("/" in f["file"] for f in manifest["source_files"])
    assert len(files) == sum(1 for p in sample[0].rglob("*") if p.suffix in (".csv", ".xlsx"))
    assert all(len(f["sha256"]) == 64 for f in manifest["source_files"])
    dbt_build = manifest["validation"]["dbt_build"]
    # every model built (success) and every dbt test passed; unit tests run in the suite
    nodes = json.loads(MANIFEST.read_text("utf-8"))["nodes"].values()
    kinds = Counter(n["resource_type"] for n in nodes)
    assert dbt_build == {"success": kinds["model"], "pass": kinds["test"]}
    assert kinds["model"] >= 15 and kinds["test"] >= 20
    assert manifest["row_counts"]["indicators.csv"] == manifest["row_counts"]["marts.indicator_values"]


def test_query_command_reads_the_latest_release(refreshed, capsys):
    from dagster_project.cli import main

    code = main(["query", "--warehouse", str(refreshed.warehouse_dir),
                 ("select indicator_code, display_value from indicator_values "
                  "where indicator_code = '4.3.3' and as_of = '2024-12-31' and is_headline")])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out == ["indicator_code,display_value", "4.3.3,390292.0"]


def test_query_refuses_to_write(refreshed, capsys):
    from dagster_project.cli import main

    code = main(["query", "--warehouse", str(refreshed.warehouse_dir), "drop table indicator_values"])
    assert code == 1
    assert "read-only" in capsys.readouterr().err.lower()
