"""Taiwan national ID and resident-certificate numbers: checksum (DOMAIN.md §4).

The same rule exists as a DuckDB macro (`SQL_MACRO`) because person-level files are
validated inside DuckDB; tests check the two agree.
"""

import re

LETTER_CODES = {
    **{chr(ord("A") + i): 10 + i for i in range(8)},  # A..H = 10..17
    "I": 34, "J": 18, "K": 19, "L": 20, "M": 21, "N": 22, "O": 35, "P": 23, "Q": 24,
    "R": 25, "S": 26, "T": 27, "U": 28, "V": 29, "W": 32, "X": 30, "Y": 31, "Z": 33,
}
WEIGHTS = (1, 9, 8, 7, 6, 5, 4, 3, 2, 1, 1)
_SHAPE = re.compile(r"^[A-Z][1289]\d{8}$")


def _weighted_sum(letter: str, digits: str) -> int:
    code = LETTER_CODES[letter]
    total = code // 10 + 9 * (code % 10)
    for weight, digit in zip(WEIGHTS[2:], digits):
        total += weight * (ord(digit) - 48)
    return total


def is_valid(national_id: str) -> bool:
    """National IDs have 1/2 as second character; resident certificates (2021-) 8/9."""
    if not isinstance(national_id, str) or not _SHAPE.match(national_id):
        return False
    return _weighted_sum(national_id[0], national_id[1:]) % 10 == 0


def with_check_digit(letter: str, first_eight: str) -> str:
    """Complete a letter and eight digits into a valid number (sample generator)."""
    partial = _weighted_sum(letter, first_eight + "0")
    return f"{letter}{first_eight}{(10 - partial % 10) % 10}"


def _letter_case() -> str:
    return " ".join(f"when '{k}' then {v}" for k, v in LETTER_CODES.items())


# A DuckDB macro: true when x has the shape and the checksum of a valid number.
SQL_MACRO = f"""
create or replace macro tw_id_is_valid(x) as (
    case when regexp_full_match(coalesce(x, ''), '[A-Z][1289][0-9]{{8}}') then (
        (case substr(x, 1, 1) {_letter_case()} end) // 10
        + 9 * ((case substr(x, 1, 1) {_letter_case()} end) % 10)
        + 8 * try_cast(substr(x, 2, 1) as int) + 7 * try_cast(substr(x, 3, 1) as int)
        + 6 * try_cast(substr(x, 4, 1) as int) + 5 * try_cast(substr(x, 5, 1) as int)
        + 4 * try_cast(substr(x, 6, 1) as int) + 3 * try_cast(substr(x, 7, 1) as int)
        + 2 * try_cast(substr(x, 8, 1) as int) + try_cast(substr(x, 9, 1) as int)
        + try_cast(substr(x, 10, 1) as int)
    ) % 10 = 0 else false end
)
"""
