"""The tiny calibrated warehouse in the default tier: every family, quarter and dialect
through a real refresh. Aggregated families are generated unscaled, so each of their
published figures must hold to the published digit here too; person-level counting rules
are pinned by the dbt unit tests every build runs, and proved at scale 1 in `e2e`."""

import csv

import duckdb
from leak_scan import is_quarantined_original, leaks, source_ids

from dagster_project.config import REGISTRY_FILE
from dagster_project.lib.registry import load
from dagster_project.lib.source_contract import door, family_names

AGGREGATED = {f for f in family_names() if not door().is_person_level(f)}


def _sources_by_indicator() -> dict[str, str]:
    indicators = load(REGISTRY_FILE)
    by_code = {i["code"]: i for i in indicators}
    return {i["code"]: by_code[i.get("alias_of", i["code"])]["source"] for i in indicators}


def test_every_figure_of_an_aggregated_family_is_the_published_one(tiny_refreshed,
                                                                    published_figures):
    with open(tiny_refreshed.releases_dir / "latest" / "indicators.csv",
              encoding="utf-8-sig") as f:
        index = {(r["indicator_code"], r["measure"], r["group"], r["window_start"], r["as_of"]): r
                 for r in csv.DictReader(f)}
    source = _sources_by_indicator()
    checked, wrong = 0, []
    for fig in published_figures:
        if fig["must_match"] != "yes" or source[fig["indicator_code"]] not in AGGREGATED:
            continue
        key = (fig["indicator_code"], fig["measure"], fig["group"], fig["window_start"],
               fig["as_of"])
        got, n = index.get(key), int(fig["round_to"])
        if got is None or round(float(got["value"]), n) != round(float(fig["value"]), n):
            wrong.append(f"{key}: got {got and got['value']} want {fig['value']}")
        checked += 1
    assert checked >= 20 and not wrong, wrong


def test_rows_per_partition_equal_what_the_generator_wrote(tiny_refreshed, tiny_sample):
    _, manifest = tiny_sample
    with duckdb.connect(str(tiny_refreshed.database), read_only=True) as con:
        for family in family_names():
            got = dict(con.sql(f"select partition_key, count(*) from raw.{family} "
                               "group by 1").fetchall())
            want = {k.split("/")[1]: v for k, v in manifest["rows_per_partition"].items()
                    if k.startswith(family + "/")}
            assert got == want and len(got) > 20, family


def test_the_tiny_sample_has_every_dialect(tiny_sample):
    """Every file dialect the contract permits is in the tiny sample, so the tiny tier
    reads them all: UTF-8 with and without BOM, CP950, CRLF, XLSX."""
    sources, _ = tiny_sample
    kinds = set()
    for path in sources.rglob("*.*"):
        data = path.read_bytes()
        if path.suffix == ".xlsx":
            kinds.add("xlsx")
            continue
        kinds.add("bom" if data.startswith(b"\xef\xbb\xbf") else "no-bom")
        kinds.add("crlf" if b"\r\n" in data else "lf")
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            kinds.add("cp950")
    assert {"xlsx", "bom", "no-bom", "crlf", "lf", "cp950"} <= kinds


def test_no_source_id_anywhere_in_the_tiny_warehouse(tiny_refreshed):
    ids = source_ids(tiny_refreshed.sources_dir)
    assert len(ids) > 10_000
    assert leaks(tiny_refreshed.warehouse_dir, ids, is_quarantined_original) == {}
