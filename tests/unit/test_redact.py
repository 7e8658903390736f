"""The last line of defence: any ID-shaped token in any text is masked, whatever is
around it; controls are escaped; problems about person-level cells quote nothing."""

import string

from hypothesis import given
from hypothesis import strategies as st

from dagster_project.ingest.problems import NOT_QUOTED, Problem
from dagster_project.lib.national_id import LETTER_CODES, with_check_digit
from dagster_project.lib.redact import MASK, redact_ids, safe_text
from dagster_project.lib.text_normalise import FULLWIDTH_MAP

HALF_TO_FULL = {v: k for k, v in FULLWIDTH_MAP.items() if k != 0x3000}


@st.composite
def national_ids(draw) -> str:
    letter = draw(st.sampled_from(sorted(LETTER_CODES)))
    second = draw(st.sampled_from("1289"))
    rest = draw(st.text(string.digits, min_size=7, max_size=7))
    nid = with_check_digit(letter, second + rest)
    if draw(st.booleans()):
        nid = nid.lower()
    if draw(st.booleans()):  # senders type full-width digits and letters too
        nid = nid.translate(HALF_TO_FULL)
    return nid


# Text around an ID that is not itself a letter or digit (which would make a longer token).
surroundings = st.text(st.characters(blacklist_categories=("Lu", "Ll", "Nd", "Cs")), max_size=30)


@given(nid=national_ids(), before=surroundings, after=surroundings)
def test_an_id_anywhere_in_any_text_is_masked(nid, before, after):
    out = redact_ids(before + nid + after)
    assert nid not in out and MASK in out
    assert nid not in safe_text(before + nid + after, 60)


@given(text=st.text(max_size=200))
def test_safe_text_has_no_controls_and_respects_the_limit(text):
    out = safe_text(text, 60)
    assert len(out) <= 61
    assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in out)


def test_ordinary_text_is_kept():
    for text in ("row 12, column 數值: value '1,234': not a whole number", "bli_11312.csv",
                 "2024-03-05", "65000_113Q2.xlsx", "A12345678",
                 # a sha256 that starts like an ID: hashes in manifests stay intact
                 '"sha256": "ba40797602f503f19f5e791bd046f7bc742209042c009994ba889a06e5ab5f55"'):
        assert redact_ids(text) == text


def test_a_problem_on_a_personal_column_quotes_nothing():
    problem = Problem("roster_113Q2_T.csv", 7, "出生日期", "1990-01-01", "not a date",
                      quoted=False)
    assert "1990-01-01" not in str(problem) and problem.value == ""
    assert str(problem) == "roster_113Q2_T.csv: row 7, column 出生日期: not a date"
    assert NOT_QUOTED  # the report's wording for an unquoted value


def test_a_quoted_value_is_short_escaped_and_masked():
    problem = Problem("x.csv", 2, "數值", "A123456789\x00" + "9" * 100, "not a whole number")
    assert MASK in problem.value and "\\x00" in problem.value
    assert len(problem.value) <= 61
