"""Disclosure control of the release's county tables (registry/disclosure.yml), checked the
way an intruder would attack it: every suppressed county cell is tried against everything
the release publishes (the national figures' numerators and denominators over their
windows, the county rates, every vintage), as linear equations; none may be recoverable.
The equations are first checked to hold on the warehouse's true values, and a release
protected without the secondary suppression is shown to give cells away, so the attack is
real."""

import csv
import dataclasses
import json

import duckdb
import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from dagster_project.lib.source_contract import door
from dagster_project.publish.disclosure import protect, rules

TABLE = "county_programme_quarterly"
KEY = ("county_code", "report_year", "report_quarter")


@pytest.fixture(scope="module")
def truth(tiny_refreshed):
    """The warehouse's own mart: true values, never protected."""
    with duckdb.connect(str(tiny_refreshed.working_database), read_only=True) as con:
        frame = con.sql(f"select * from marts.{TABLE}").df()
    return {tuple(r[k] for k in KEY): r for r in frame.to_dict("records")}


def _hidden(con, table=TABLE, key=KEY) -> dict[tuple, str]:
    """(row key…, column) → flag of every suppressed cell of a released table."""
    t = rules().table(table)
    out = {}
    for column in [*t.cells, *t.rates]:
        if not con.execute("select count(*) from information_schema.columns where table_name = ? "
                           "and column_name = ?", [table, f"{column}_flag"]).fetchall()[0][0]:
            continue
        for row in con.execute(f"select {', '.join(key)}, {column}, {column}_flag "
                               f"from marts.{table} where {column}_flag is not null").fetchall():
            assert row[-2] is None, f"{table} {row}: a flagged cell still shows its value"
            out[(*row[:-2], column)] = row[-1]
    return out


def _equations(con, hidden: dict):
    """Every linear relation the release publishes over the suppressed cells: (coefficients
    by unknown, constant) with Σ coefficient × cell = constant."""
    cs = door().family("county_submissions").flow_prefix + "."
    columns = [c for (c,) in con.execute(
        "select column_name from information_schema.columns where table_name = ? "
        "order by ordinal_position", [TABLE]).fetchall()]
    rows = [dict(zip(columns, r)) for r in con.execute(f"select * from marts.{TABLE}").fetchall()]
    released = {(*(r[k] for k in KEY), c): r[c] for r in rows for c in columns}
    equations = []

    def add(cells: list[tuple[tuple, float]], constant: float):
        """cells: ((row key…, column), coefficient); known cells move to the constant."""
        coefficients: dict[tuple, float] = {}
        for cell, coefficient in cells:
            if cell in hidden:
                coefficients[cell] = coefficients.get(cell, 0.0) + coefficient
            else:
                constant -= coefficient * released[cell]
        if coefficients:
            equations.append((coefficients, constant))

    # 1. national numerators and denominators over their windows (quarters of the window)
    national = con.execute("""
        select v.window_start, v.as_of, m.numerator_flow, v.numerator,
               m.denominator_flow, v.denominator
        from marts.indicator_values as v
        join registry.indicators as i using (indicator_code)
        join registry.indicator_measures as m
          on m.indicator_code = coalesce(i.alias_of, v.indicator_code) and m.measure = v.measure
         and m.group_code = v.group_code
        where i.source_family = 'county_submissions'""").fetchall()
    for start, as_of, num_flow, num, den_flow, den in national:
        ends = [r["quarter_end"] for r in rows if r["quarter_end"] <= as_of
                and (start is None or r["quarter_end"] >= start)]
        if not ends:
            continue
        if start is None:  # a stock: the last quarter at or before the as-of date
            ends = [max(ends)]
        for flow, value in ((num_flow, num), (den_flow, den)):
            if flow is None or value is None or not flow.startswith(cs):
                continue
            column = flow.removeprefix(cs)
            add([((*(r[k] for k in KEY), column), 1.0) for r in rows
                 if r["quarter_end"] in ends], float(value))
    # 2. county rates: numerator − rate × denominator = 0 wherever the rate is published
    for rate, (num, den) in rules().table(TABLE).rates.items():
        for r in rows:
            if r[rate] is not None:
                key = tuple(r[k] for k in KEY)
                add([((*key, num), 1.0), ((*key, den), -float(r[rate]))], 0.0)
    return equations


def _recoverable(equations, hidden: dict, truth: dict) -> list[tuple]:
    """The suppressed cells an intruder can solve for: those whose unit vector lies in the
    row space of the equations' matrix (zero in every null-space direction)."""
    unknowns = sorted(hidden, key=str)
    if not equations:
        return []
    index = {u: i for i, u in enumerate(unknowns)}
    a = np.zeros((len(equations), len(unknowns)))
    b = np.zeros(len(equations))
    for e, (coefficients, constant) in enumerate(equations):
        for cell, coefficient in coefficients.items():
            a[e, index[cell]] = coefficient
        b[e] = constant
    # the attack's equations hold on the true values: the test models what is published
    x = np.array([float(truth[u[:3]][u[3]]) for u in unknowns])
    assert np.allclose(a @ x, b, atol=1e-6), "an equation does not hold on the true values"
    _, s, vt = np.linalg.svd(a)
    rank = int((s > 1e-9 * max(s.max(), 1)).sum())
    null_space = vt[rank:].T  # unknowns × free directions
    return [u for u, i in index.items()
            if null_space.shape[1] == 0 or np.abs(null_space[i]).max() < 1e-9]


def test_no_suppressed_county_cell_can_be_recomputed_from_the_release(tiny_release, truth):
    folder, con = tiny_release
    hidden = _hidden(con)
    assert hidden, "the tiny sample has counts of 1–2: something must be suppressed"
    equations = _equations(con, hidden)
    assert len(equations) > 50
    assert _recoverable(equations, hidden, truth) == []


def test_without_secondary_suppression_the_attack_recovers_cells(tiny_refreshed, tmp_path, truth):
    """The same attack on a release protected by primary suppression only."""
    weak = dataclasses.replace(rules(), tables=tuple(
        dataclasses.replace(t, margin=()) for t in rules().tables))
    with duckdb.connect(str(tmp_path / "weak.duckdb")) as con:
        con.execute(f"attach '{tiny_refreshed.working_database}' as w (read_only)")
        for schema, table in (("marts", TABLE), ("marts", "indicator_values"),
                              ("registry", "indicators"), ("registry", "indicator_measures")):
            con.execute(f"create schema if not exists {schema}")
            con.execute(f"create table {schema}.{table} as select * from w.{schema}.{table}")
        con.execute("detach w")
        protect(con, weak)
        hidden = _hidden(con)
        recovered = _recoverable(_equations(con, hidden), hidden, truth)
    assert len(recovered) > 10


def test_no_published_county_count_is_one_or_two_and_every_hidden_cell_is_flagged(tiny_release, truth):
    folder, con = tiny_release
    t = rules().table(TABLE)
    low, high = rules().low, rules().high
    hidden = _hidden(con)
    # release.duckdb, both county tables
    for table in (TABLE, "county_submission_vintages"):
        for column in t.counts:
            small = con.execute(f"select count(*) from marts.{table} "
                                f"where {column} between {low} and {high}").fetchall()[0][0]
            assert small == 0, (table, column)
    # true small counts are all hidden as C; the warehouse's mart keeps them
    true_small = {(*k, c) for k, r in truth.items() for c in t.counts if low <= r[c] <= high}
    assert true_small and all(hidden.get(cell) == "C" for cell in true_small)
    # a rate is hidden with its numerator or denominator, a savings amount with its count
    for (*key, column), flag in hidden.items():
        if column in t.counts:
            for rate, parts in t.rates.items():
                if column in parts:
                    assert (*key, rate) in hidden, (key, rate)
        for follower, owner in t.follows.items():
            if column == owner:
                assert hidden.get((*key, follower)) == flag, (key, follower)
    # published cells are the true values
    for key, r in truth.items():
        row = con.execute(f"select * from marts.{TABLE} where county_code = ? and report_year = ? "
                          "and report_quarter = ?", list(key)).df().to_dict("records")[0]
        for column in [*t.cells, *t.rates]:
            if (*key, column) not in hidden:
                assert (pd.isna(row[column]) and pd.isna(r[column])) or (
                    row[column] == pytest.approx(r[column])), (key, column)
    # every vintage of a hidden cell is hidden
    vintages = _hidden(con, "county_submission_vintages", (*KEY, "vintage"))
    for (*key, column) in hidden:
        if column in t.cells:
            rows = con.execute("select vintage from marts.county_submission_vintages where "
                               "county_code = ? and report_year = ? and report_quarter = ?",
                               key).fetchall()
            assert all((*key, v, column) in vintages for (v,) in rows), (key, column)
    # the files: CSV and Parquet empty with the flag; the workbook shows x
    for table in (TABLE, "county_submission_vintages"):
        with open(folder / "data" / f"{table}.csv", encoding="utf-8-sig") as f:
            for r in csv.DictReader(f):
                for column in t.counts:
                    if column in r:
                        assert r[column] not in {str(n) for n in range(low, high + 1)}
                        assert (r[column] == "") == (r[f"{column}_flag"] in ("C", "D")), r
        parquet = con.execute(f"select count(*) from read_parquet('{folder / 'data' / table}.parquet') "
                              f"where {' or '.join(f'{c} between {low} and {high}' for c in t.counts)}"
                              ).fetchall()[0][0]
        assert parquet == 0
    ws = load_workbook(folder / "release.xlsx", read_only=True)["縣市 County programmes"]
    rows = list(ws.iter_rows(values_only=True))
    header = [h.split("\n")[-1] for h in rows[0]]
    shown = 0
    for r in rows[1:]:
        for column in t.counts:
            value = r[header.index(column.replace("_", " "))]
            flag = r[header.index(f"{column.replace('_', ' ')} flag")]
            assert value not in range(low, high + 1)
            assert (value == "x") == (flag in ("C", "D"))
            shown += value == "x"
    assert shown == sum(1 for cell in hidden if cell[-1] in t.counts)
    notes = [r[2] for r in load_workbook(folder / "release.xlsx", read_only=True)["說明 Notes"]
             .iter_rows(min_row=2, values_only=True) if r[0] == "不予公布 Suppressed"]
    assert len(notes) == 2 and all(rules().flags[f]["zh"] in " ".join(notes) for f in "CD")
    page = (folder / "report" / "county.html").read_text(encoding="utf-8")
    assert "不予公布 x:" in page and rules().flags["D"]["zh"] in page


def test_the_legend_and_metadata_travel_with_the_release(tiny_release):
    folder, con = tiny_release
    assert {f for (f,) in con.execute("select flag from registry.disclosure_flags").fetchall()} == {"C", "D"}
    meta = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    assert meta["disclosure"]["small_counts"] == [1, 2]
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    summary = manifest["disclosure"][TABLE]
    assert summary["unprotected_margins"] == [] and summary["hidden_cells"]["D"] > 0


def test_the_warehouse_keeps_true_values(tiny_refreshed, truth):
    """Only published outputs are protected: the marts the gate and national figures use
    keep every count of 1–2."""
    assert any(r["jointly_served"] in (1, 2) for r in truth.values())
