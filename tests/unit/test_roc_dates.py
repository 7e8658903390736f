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
