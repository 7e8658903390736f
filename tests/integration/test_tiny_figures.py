"""The tiny calibrated warehouse in the default tier: every family, quarter and dialect
through a real refresh. Aggregated families are generated unscaled, so each of their
published figures must hold to the published digit here too; person-level counting rules
are pinned by the dbt unit tests (test_dbt_unit_tests.py), and proved at scale 1 in `e2e`."""

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


def test_the_sample_uses_every_form_the_contract_permits_and_all_of_it_loads(tiny_sample,
                                                                             tiny_refreshed):
    """Every encoding the door decodes (and plain UTF-8), every date shape it parses, every
    name of an owner unit: our own tests cannot pass on a narrower reading."""
    from dagster_project.ingest.files import ENCODINGS
    from dagster_project.lib.roc_dates import DATE_FORMS
    from dagster_project.sample.mess import mess_for

    sources, manifest = tiny_sample
    files = [p for f in family_names() for p in (sources / f).iterdir()]
    # county workbooks are planned by stem (one plan for the .csv or .xlsx a county sends)
    plans = {p: mess_for(manifest["seed"], p.stem if p.parent.name == "county_submissions"
                         else p.name) for p in files}
    assert {m.encoding for m in plans.values()} == {"utf-8", *ENCODINGS}
    assert {m.date_form for m in plans.values()} == set(DATE_FORMS)
    tallies = [m for p, m in plans.items() if p.parent.name == "programme_tallies"]
    longest = max(len(u.names) for u in door().units)
    assert {m.unit_form % longest for m in tallies} == set(range(longest))
    # and the door took every one of them in
    with duckdb.connect(str(tiny_refreshed.working_database), read_only=True) as con:
        states = dict(con.execute("select state, count(*) from raw.landed_files group by 1").fetchall())
    assert states == {"loaded": len(files)}
