"""The door, generated from the registry: for every family of registry/sources.yml, one bad
file per rule its contract states (each required column blank, each codelist broken, each
date, county, unit and ID column wrong, each count not a number or negative, each
within-row comparison broken, sender and period disagreeing with the file name). Each is a
resubmission of a loaded file, dropped beside the refreshed tiny warehouse; one refresh
must quarantine exactly those files — each naming file, row, column, (quotable) value and
the rule of registry/rules.yml — load everything else, exit 0 with a new release, and keep
every figure (the earlier vintages stay current)."""

import csv
import io
import json
from dataclasses import dataclass

import duckdb
import pytest

from dagster_project.ingest.files import classify, decode
from dagster_project.lib.source_contract import Family, door
from dagster_project.refresh import refresh


@dataclass(frozen=True)
class Breach:
    family: str
    column: str  # header
    value: str  # what the bad file says
    rule_id: str  # the rule of registry/rules.yml the door must name


def _count_breaches(family: Family) -> list[tuple[str, object, str]]:
    out = []
    for c in family.columns:
        if c.type == "count":
            out.append((c.header, "十二", "whole_number"))
            if c.name in family.non_negative:
                out.append((c.header, "-5", "negative"))
    for rule in family.within_row:
        def past_the_limit(row: dict, rule=rule) -> str:  # one more than the row allows
            limit = row[family.header_of[rule.at_most]].replace(",", "")
            return str((int(limit) if limit.isdigit() else 0) * rule.times + 1)
        out.append((family.header_of[rule.column], past_the_limit, "within_row"))
    return out


def breaches(family: Family) -> list[tuple[str, object, str]]:
    """(header, bad value or how to make it from the row, rule id) for every rule the
    family's contract states."""
    out = [(c.header, "", "required") for c in family.columns if c.required]
    kinds = {"date": ("113/13/45", "date"), "county": ("火星市", "county"),
             "unit": ("勞動部", "unit"), "measure_code": ("BOGUS", "codelist"),
             "target_groups": ("外星人", "codelist"), "roc_year_month": ("11399", "date"),
             "branch": ("Z", "disagrees_with_name"), "roc_year": ("99", "disagrees_with_name"),
             "national_id": ("A123456780", "national_id")}
    for c in family.columns:
        if c.allowed is not None:
            out.append((c.header, "不在清單", "codelist"))
        if c.type in kinds:
            out.append((c.header, *kinds[c.type]))
    return out + _count_breaches(family)


def _csv_files(folder, family: str) -> list:
    """CSV files of 2022–2024: three years hold a file for every rule, and the refresh
    re-ingests only those quarters."""
    files = [(p, classify(family, p)) for p in sorted((folder / family).iterdir())
             if p.suffix == ".csv"]
    return [p for p, landed in files if landed and 2022 <= landed.fields["year"] <= 2024]


@pytest.fixture(scope="module")
def door_run(tiny_refreshed, tmp_path_factory):
    from conftest import copy_of

    s = copy_of(tiny_refreshed, tmp_path_factory.mktemp("door"))
    planted: dict[str, tuple[Breach, int]] = {}
    for family in door().families.values():
        todo = breaches(family)
        files = _csv_files(s.sources_dir, family.name)
        # spread over the quarters: a partition is retried once per refused file
        files = files[::max(1, len(files) // len(todo))]
        assert len(files) >= len(todo), family.name
        for path, (header, value, rule_id) in zip(files, todo):
            rows = list(csv.reader(io.StringIO(decode(path, path.read_bytes()))))
            header_row = [h.strip().lstrip("\ufeff") for h in rows[0]]
            if callable(value):
                value = value(dict(zip(header_row, rows[1])))
            rows[1][header_row.index(header)] = value
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\n").writerows(rows)
            path.write_text(buffer.getvalue(), encoding="utf-8")
            planted[path.name] = (Breach(family.name, header, value, rule_id), 2)
    previous = (s.releases_dir / "latest").resolve()
    lines = []
    code = refresh(s, progress=lines.append)
    return s, planted, previous, code, "\n".join(lines)


def test_every_rule_of_every_family_is_planted(door_run):
    _, planted, *_ = door_run
    by_family = {}
    for breach, _ in planted.values():
        by_family.setdefault(breach.family, set()).add(breach.rule_id)
    assert set(by_family) == set(door().families)
    assert {"required", "date", "county", "national_id", "codelist"} <= by_family["training_rosters"]
    assert {"within_row", "negative", "whole_number"} <= by_family["county_submissions"]
    assert {"unit", "codelist"} <= by_family["programme_tallies"]
    assert len(planted) > 60


def test_refresh_publishes_a_new_release_with_exactly_the_planted_files_quarantined(door_run):
    s, planted, previous, code, output = door_run
    assert code == 0, output
    assert (s.releases_dir / "latest").resolve() != previous
    with duckdb.connect(str(s.working_database), read_only=True) as con:
        refused = {name for (name,) in con.sql("""select file_name from raw.landed_files
                                                 where state = 'quarantined'""").fetchall()}
    assert refused == set(planted)
    # the run's output says each refusal in Chinese too, with its fix
    assert output.count("    退件：") == len(planted)


def test_each_report_names_row_column_value_and_the_registry_rule(door_run):
    s, planted, *_ = door_run
    for name, (breach, row) in planted.items():
        (report,) = s.quarantine_dir.glob(f"*/{name}.report.json")
        problems = json.loads(report.read_text(encoding="utf-8"))["problems"]
        matching = [p for p in problems if p["column"] == breach.column and p["row"] == row
                    and p["rule_id"] == breach.rule_id]
        assert matching, (name, breach, problems[:3])
        p = matching[0]
        assert p["rule_zh"] and p["fix_zh"]
        family = door().family(breach.family)
        canonical = family.by_header[breach.column]
        if family.person_level and canonical not in family.quotable:
            assert p["value"] == "", (name, p)  # a person's cell is never quoted
        elif breach.value:
            assert p["value"] == breach.value, (name, p)


def test_every_figure_is_as_before(door_run):
    s, _, previous, _, _ = door_run
    query = """select indicator_code, measure, group_code, window_start, as_of,
                      indicator_value, is_complete from marts.indicator_values order by all"""
    with duckdb.connect(str(previous / "release.duckdb"), read_only=True) as con:
        before = con.sql(query).fetchall()
    with duckdb.connect(str(s.releases_dir / "latest" / "release.duckdb"), read_only=True) as con:
        after = con.sql(query).fetchall()
    assert len(after) > 1000 and after == before
