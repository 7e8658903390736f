from datetime import date

import pytest

from dagster_project.lib.roc_dates import InvalidDate, parse_date, parse_roc_year_month


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
