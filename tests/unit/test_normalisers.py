import pytest

from dagster_project.lib.counties import UnknownCounty, resolve_county
from dagster_project.lib.text_normalise import NotANumber, parse_count


@pytest.mark.parametrize("text,value", [
    ("1234", 1234), ("1,234", 1234), ("１２３", 123), ("１，２３４", 1234), (" 56 ", 56),
    ("0", 0), ("-5", -5), ("12.0", 12),
])
def test_counts(text, value):
    assert parse_count(text) == value


def test_blank_count_is_none():
    assert parse_count("") is None


@pytest.mark.parametrize("text", ["12a", "1.5", "-", "－", "…"])
def test_non_numbers_raise(text):
    with pytest.raises(NotANumber):
        parse_count(text)


@pytest.mark.parametrize("name,code", [
    ("臺北市", "63000"), ("台北市", "63000"), ("台東縣", "10014"), ("臺東縣", "10014"),
    ("臺北縣", "65000"), ("台中縣", "66000"), ("桃園縣", "68000"), ("馬祖", "09007"),
    ("新北市", "65000"), ("金門縣", "09020"), (" 高雄市 ", "64000"),
])
def test_county_names_and_variants(name, code):
    assert resolve_county(name) == code


def test_unknown_county_raises():
    with pytest.raises(UnknownCounty):
        resolve_county("台灣省")
