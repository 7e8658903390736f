"""Disclosure control on hand-made tables whose protected cells are worked out by hand."""

import duckdb
import pytest

from dagster_project.publish.disclosure import Protected, Rules, protect, rules

FLAGS = {"C": {"zh": "小", "en": "small"}, "D": {"zh": "輔", "en": "secondary"}}
TABLE = Protected("county", key=("county", "q"), margin=("q",), counts=("served", "referred"),
                  follows={"amount": "served"}, rates={"rate": ("served", "referred")})
VINTAGES = Protected("county_vintages", key=("county", "q", "vintage"), margin=(),
                     counts=TABLE.counts, follows=TABLE.follows, rates=TABLE.rates,
                     inherits="county")
RULES = Rules(1, 2, FLAGS, (TABLE, VINTAGES))


def _con(rows, vintages=()):
    con = duckdb.connect()
    con.execute("create schema marts; create schema registry")
    con.execute("create table marts.county (county varchar, q int, served bigint, "
                "referred bigint, rate double, amount bigint, posts bigint)")
    con.executemany("insert into marts.county values (?, ?, ?, ?, ?, ?, ?)",
                    [(c, q, s, r, s / r if r and s is not None else None, a, p)
                     for c, q, s, r, a, p in rows])
    con.execute("create table marts.county_vintages (county varchar, q int, vintage int, "
                "served bigint, referred bigint, amount bigint)")
    if vintages:
        con.executemany("insert into marts.county_vintages values (?, ?, ?, ?, ?, ?)",
                        list(vintages))
    return con


def _flags(con, table="county", key="county, q"):
    columns = [c for (c,) in con.execute(
        "select column_name from information_schema.columns where table_name = ? "
        "and column_name like '%_flag'", [table]).fetchall()]
    out = {}
    for c in columns:
        for row in con.execute(f"select {key}, {c} from marts.{table} "
                               f"where {c} is not null").fetchall():
            out[(*row[:-1], c.removesuffix("_flag"))] = row[-1]
    return out


def test_a_small_count_is_hidden_with_the_smallest_non_zero_other_of_its_quarter():
    # quarter 1: A served 2 (primary); the complement in `served` is the smallest non-zero
    # other: C (5), not B (0). `referred` has no small count: nothing hidden there.
    con = _con([("A", 1, 2, 10, 3000, 4), ("B", 1, 0, 8, 0, 4), ("C", 1, 5, 9, 9000, 4),
                ("D", 1, 40, 60, 80000, 4)])
    summary = protect(con, RULES)
    assert _flags(con) == {
        ("A", 1, "served"): "C", ("A", 1, "amount"): "C", ("A", 1, "rate"): "C",
        ("C", 1, "served"): "D", ("C", 1, "amount"): "D", ("C", 1, "rate"): "D",
    }
    rows = {r[0]: r[1:] for r in con.execute(
        "select county, served, referred, rate, amount, posts from marts.county").fetchall()}
    assert rows["A"] == (None, 10, None, None, 4)  # hidden = NULL, never 0; posts untouched
    assert rows["B"] == (0, 8, 0.0, 0, 4)
    assert rows["D"] == (40, 60, 40 / 60, 80000, 4)
    assert summary["county"] == {"hidden_cells": {"C": 2, "D": 2}, "unprotected_margins": []}


def test_two_small_counts_protect_each_other_and_a_zero_is_the_last_resort():
    con = _con([("A", 1, 1, 3, 0, 1), ("B", 1, 2, 3, 0, 1), ("C", 1, 7, 9, 0, 1),
                ("A", 2, 1, 5, 0, 1), ("B", 2, 0, 5, 0, 1)])
    protect(con, RULES)
    flags = _flags(con)
    # quarter 1: two primaries in `served` — no complement needed there
    assert flags[("A", 1, "served")] == flags[("B", 1, "served")] == "C"
    assert ("C", 1, "served") not in flags
    # the amounts follow their counts (both hidden: no lone cell in the amount column)
    assert flags[("A", 1, "amount")] == flags[("B", 1, "amount")] == "C"
    # quarter 2: the only other cell is a zero — hidden, since nothing else is left
    assert flags[("B", 2, "served")] == "D"


def test_a_lone_cell_with_nothing_to_pair_is_reported():
    con = _con([("A", 1, 1, 4, 0, 1), ("B", 1, None, 4, None, 1)])
    summary = protect(con, RULES)
    assert summary["county"]["unprotected_margins"] == ["1 amount", "1 served"]


def test_every_vintage_of_a_hidden_cell_is_hidden_and_old_small_counts_too():
    con = _con([("A", 1, 2, 10, 0, 1), ("C", 1, 5, 9, 0, 1), ("D", 1, 9, 9, 0, 1)],
               vintages=[("A", 1, 1, 2, 10, 0), ("A", 1, 2, 2, 10, 0),  # same value, current
                         ("C", 1, 1, 5, 9, 0),
                         ("D", 1, 1, 1, 9, 0), ("D", 1, 2, 9, 9, 0)])  # D's first said 1
    protect(con, RULES)
    flags = _flags(con, "county_vintages", "county, q, vintage")
    assert flags[("A", 1, 1, "served")] == flags[("A", 1, 2, "served")] == "C"
    assert flags[("C", 1, 1, "served")] == "D"  # the complement, in every vintage
    assert flags[("D", 1, 1, "served")] == "C" and ("D", 1, 2, "served") not in flags
    assert con.execute("select count(*) from marts.county_vintages where served between 1 and 2"
                       ).fetchall() == [(0,)]


def test_the_registry_rules_load_and_refer_to_their_own_columns(tmp_path):
    r = rules()
    assert (r.low, r.high) == (1, 2) and set(r.flags) == {"C", "D"}
    county = r.table("county_programme_quarterly")
    assert county.margin and "jointly_served" in county.counts
    assert r.table("county_submission_vintages").inherits == county.table
    broken = tmp_path / "disclosure.yml"
    broken.write_text("small_counts: {min: 1, max: 2}\nflags: {C: {zh: a, en: b}, D: {zh: c, en: d}}\n"
                      "tables:\n  t:\n    key: [k]\n    person_counts: [n]\n"
                      "    rates: {r: [n, missing]}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="missing"):
        rules(broken)


def test_the_report_names_hidden_quarters_as_runs_of_adjacent_quarters():
    from dagster_project.publish.report import _runs

    quarters = [("2018Q1", None, "C"), ("2018Q2", None, "C"), ("2018Q3", 0.5, None),
                ("2018Q4", None, "D"), ("2019Q1", None, "C"), ("2019Q2", None, "C"),
                ("2019Q4", None, "C")]  # no row for 2019Q3: the run breaks there
    assert _runs(quarters) == "2018Q1–2018Q2 (C), 2018Q4 (D), 2019Q1–2019Q2 (C), 2019Q4 (C)"
