from datetime import date

import pytest

from dagster_project.lib.roc_dates import (
    DATE_FORMS,
    InvalidDate,
    parse_date,
    parse_roc_year_month,
    to_roc,
)


@pytest.mark.parametrize("text", [
    "113/03/05", "113-03-05", "113.03.05", "1130305", "民國113年3月5日", "113年3月5日",
    "2024-03-05", "2024/03/05", "20240305", "１１３／０３／０５", "１１３０３０５", " 113/3/5 ",
])
def test_every_form_of_one_day_parses_to_the_same_iso_date(text):
    assert parse_date(text) == date(2024, 3, 5)


def test_two_digit_roc_years():
    assert parse_date("99/12/31") == date(2010, 12, 31)
    assert parse_date("860417") == date(1997, 4, 17)


def test_blank_is_none():
    assert parse_date("") is None
    assert parse_date(None) is None


@pytest.mark.parametrize("text", ["112/02/29", "113/13/01", "113/00/10", "abc", "113/02/30"])
def test_impossible_or_malformed_dates_raise(text):
    with pytest.raises(InvalidDate):
        parse_date(text)


def test_leap_day_of_a_leap_roc_year_is_valid():
    assert parse_date("113/02/29") == date(2024, 2, 29)


def test_roc_year_month():
    assert parse_roc_year_month("11312") == date(2024, 12, 1)
    assert parse_roc_year_month("10601") == date(2017, 1, 1)
    with pytest.raises(InvalidDate):
        parse_roc_year_month("11313")


@pytest.mark.parametrize("form", sorted(DATE_FORMS))
def test_every_form_the_sample_writes_reads_back(form):
    assert parse_date(to_roc(date(2024, 3, 5), form)) == date(2024, 3, 5)


@pytest.mark.parametrize("encoding", ["utf-8", "cp950", "big5hkscs"])
def test_a_full_width_date_survives_every_big5_decoder(encoding):
    """Big5-HKSCS writes ／ as A2 41, which CP950 (tried first) reads as ∕ (U+2215)."""
    from dagster_project.ingest.files import decode

    raw = "１１３／０３／０５".encode(encoding)
    assert parse_date(decode(None, raw)) == date(2024, 3, 5)


def _sql_dates(values: list[str]) -> dict[str, date]:
    import duckdb

    from dagster_project.lib.roc_dates import sql_dates

    with duckdb.connect() as con:
        return dict(con.execute(sql_dates("select unnest($v) as raw"), {"v": values}).fetchall())


def test_sql_reads_every_plain_form_as_parse_date_does_and_leaves_the_rest_to_it():
    """The set-based reading of person-level dates (sql_dates) against parse_date: every
    value SQL reads, it reads as parse_date does; every value it leaves, parse_date either
    refuses or reads only after normalising (spaces, full-width digits, look-alikes)."""
    days = [date(1921, 1, 1), date(1950, 2, 28), date(1999, 12, 31), date(2000, 2, 29),
            date(2010, 1, 9), date(2024, 2, 29), date(2024, 3, 5), date(2025, 11, 30)]
    written = [to_roc(d, form) for d in days for form in DATE_FORMS]
    edges = [
        # impossible or malformed: parse_date's message, never a date from SQL
        "112/02/29", "113/13/01", "113/00/10", "113/02/30", "0000/03/05", "113/3/0",
        "abc", "1130230", "20241301", "11303050", "113//03/05", "2024-03-05T00:00",
        # plain, but odd: the same reading both ways
        "0113/03/05", "00/01/01", "99/1/1", "990101", "1000101", "20240101", "113.3.5",
        "民國00年1月1日", "113年12月31日",
        # readable only after normalising: left to parse_date
        " 113/03/05", "113/03/05 ", "113 /03/05", "１１３／０３／０５", "１１３０３０５",
        "112∕07∕16", "113\t/03/05", "民國 113年3月5日", "１１３年３月５日",
    ]
    values = written + edges
    read = _sql_dates(values)
    assert set(written) <= set(read)  # every form the sample writes, set-based
    for value in values:
        try:
            expected = parse_date(value)
        except InvalidDate:
            expected = None
        if value in read:
            assert read[value] == expected, value
        else:
            assert value in edges, value
    assert not {"112/02/29", "0000/03/05", "abc", "１１３／０３／０５", " 113/03/05"} & set(read)
    assert read["0113/03/05"] == date(113, 3, 5) and read["00/01/01"] == date(1911, 1, 1)
