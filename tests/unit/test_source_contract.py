"""registry/sources.yml is the one contract at the door: it must agree with itself, with
the readers that consume it and with the dbt models that derive flows from it."""

import re
from pathlib import Path

import pytest
import yaml

from dagster_project.config import PROJECT_ROOT, SOURCES_REGISTRY_FILE
from dagster_project.ingest import aggregated, person_level
from dagster_project.ingest.files import classify
from dagster_project.ingest.lifecycle import identity
from dagster_project.lib import source_contract
from dagster_project.lib.source_contract import ContractError, UnknownUnit, door

MODELS = PROJECT_ROOT / "dbt" / "models"


def test_every_family_example_is_classified_and_identified():
    expected = {"training_rosters": ("T", "2024Q2", ("2024Q2",)),
                "employment_services": ("C", "2024Q2", ("2024Q2",)),
                "labour_insurance": ("BLI", "2024-12", ("2024Q4",)),
                "county_submissions": ("65000", "2024Q2", ("2024Q2",)),
                "programme_tallies": ("WDA", "2024", ("2024Q1", "2024Q2", "2024Q3", "2024Q4"))}
    assert set(expected) == set(door().families)
    for name, family in door().families.items():
        landed = classify(name, Path(family.example))
        assert landed is not None, family.example
        assert (*identity(landed), landed.partitions) == expected[name]


def test_every_family_has_its_reader_and_raw_table():
    ddl = {**person_level.RAW_DDL, **aggregated.RAW_DDL}
    for family in door().families.values():
        assert family.raw_table in ddl, family.name
        if family.reader == "person_level":
            reader = person_level.family(family)
            assert reader.required and reader.date_columns
            assert set(reader.columns) == {c.header for c in family.columns}


def test_unit_names_resolve_in_every_registered_form():
    for unit in door().units:
        for name in unit.names:
            assert door().resolve_unit(f" {name} ") == unit.code
            assert door().resolve_unit(name.upper()) == unit.code
    with pytest.raises(UnknownUnit):
        door().resolve_unit("勞動部")


def test_every_flow_of_a_formula_is_declared_and_every_declared_flow_is_derived_by_a_model():
    sql = "\n".join(p.read_text(encoding="utf-8") for p in MODELS.rglob("*.sql"))
    indicators = yaml.safe_load((PROJECT_ROOT / "registry" / "indicators.yml").read_text("utf-8"))
    used = {m[k] for i in indicators["indicators"] for m in i.get("measures", ())
            for k in ("numerator", "denominator") if m.get(k)}
    declared = source_contract.flows()
    assert used <= set(declared)
    for family in door().families.values():
        for code in family.flows:
            measure = code.split(".", 1)[1]
            # A long family's flows are its measure codes; a form's, its count columns;
            # a person-level family's are written out in its flow model.
            derived = (measure.upper() in family.measure_codes
                       or measure in family.of_type("count") and f"'{family.flow_prefix}.'" in sql
                       or f"'{code}'" in sql)
            assert derived, code
    literal = set(re.findall(r"'((?:tr|pes)\.[a-z0-9_]+)'", sql))
    assert literal <= set(declared), literal - set(declared)


def test_a_contract_that_contradicts_itself_is_refused(tmp_path, monkeypatch):
    raw = yaml.safe_load(SOURCES_REGISTRY_FILE.read_text(encoding="utf-8"))
    broken = [
        ("example", lambda r: r["families"]["labour_insurance"]["file_name"].update(example="x.csv")),
        ("rule column", lambda r: r["families"]["county_submissions"]["within_row"].append(
            {"column": "placed", "at_most": "nonexistent"})),
        ("flow prefix", lambda r: r["families"]["programme_tallies"]["flows"].update(
            {"li.startup": "wrong family"})),
        ("sender", lambda r: r["families"]["labour_insurance"]["sender"].update(code="NOPE")),
        ("reader", lambda r: r["families"]["training_rosters"].update(reader="magic")),
    ]
    for what, change in broken:
        copy = yaml.safe_load(yaml.safe_dump(raw, allow_unicode=True))
        change(copy)
        path = tmp_path / f"{what}.yml"
        path.write_text(yaml.safe_dump(copy, allow_unicode=True), encoding="utf-8")
        monkeypatch.setattr(source_contract, "SOURCES_REGISTRY_FILE", path)
        source_contract.door.cache_clear()
        try:
            with pytest.raises(ContractError):
                source_contract.door()
        finally:
            monkeypatch.undo()
            source_contract.door.cache_clear()


def test_the_readme_contract_section_is_the_registry():
    from dagster_project.lib.contract_doc import markdown, section_of

    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert section_of(readme) == markdown(), "README is stale: paste the output of `tsdg contract`"
    # and it says what the registry says, e.g. the matched-savings cap and every owner unit
    assert "相對存款配合款金額 ≤ 相對存款參與人數 × 9,000" in markdown()
    assert all(f"`{u.code}`" in markdown() for u in door().units)
