"""Dates as Taiwanese systems write them: ROC (民國) years in several shapes, or Gregorian.

ROC year + 1911 = Gregorian year. Accepted shapes (digits may be full-width):
  113/03/05  113-03-05  113.03.05  1130305  99/03/05  990305  民國113年3月5日  113年3月5日
  2024-03-05  2024/03/05  20240305
"""

import re
from datetime import date

from dagster_project.lib.text_normalise import to_halfwidth

ROC_OFFSET = 1911

# The accepted shapes as one pattern (one match per value: a person-level quarter has a
# hundred thousand distinct dates): separated, then CJK, then compact, in that order.
_DATE = re.compile(r"^(?:(\d{2,4})[/\-.](\d{1,2})[/\-.](\d{1,2})"  # 113/03/05, 2024-03-05
                   r"|(?:民國)?(\d{2,4})年(\d{1,2})月(\d{1,2})日"  # 民國113年3月5日
                   r"|(\d{2,3}|\d{4})(\d{2})(\d{2}))$")  # 1130305, 20240305
_ROC_YEAR_MONTH = re.compile(r"^(\d{2,3})(\d{2})$")


# The same shapes for DuckDB, in ASCII only: a value written exactly so (no spaces, no
# full-width digits) that is a real calendar date is parsed in SQL, set-based (a scale-1
# delivery holds 1.6 million distinct date strings: 15 s in Python); every other value is
# left to parse_date, whose message says what is wrong. Order as in _DATE: eight digits
# are Gregorian, six or seven ROC, so a compact value has one reading.
SQL_SHAPES = (
    r"^([0-9]{2,4})[/.-]([0-9]{1,2})[/.-]([0-9]{1,2})$",
    r"^(?:民國)?([0-9]{2,4})年([0-9]{1,2})月([0-9]{1,2})日$",
    r"^([0-9]{4})([0-9]{2})([0-9]{2})$",
    r"^([0-9]{2,3})([0-9]{2})([0-9]{2})$",
)


def sql_dates(values: str) -> str:
    """DuckDB query of (raw, value) over the distinct strings `values` (a query of one
    column `raw`): the date of each that one of SQL_SHAPES parses into a real calendar
    date, as parse_date would; the others are absent (for parse_date)."""
    parts = ", ".join(
        f"case when regexp_matches(raw, '{p}') then regexp_extract(raw, '{p}', ['y', 'm', 'd']) end"
        for p in SQL_SHAPES)
    return f"""
        select raw, make_date(y, m, d) as value from (
            select raw, case when length(p.y) = 4 then p.y::int else p.y::int + {ROC_OFFSET} end as y,
                   p.m::int as m, p.d::int as d
            from (select raw, coalesce({parts}) as p from ({values})) where p is not null)
        where y between 1 and 9999 and m between 1 and 12
        and d between 1 and day(last_day(make_date(greatest(1, least(y, 9999)),
                                                   greatest(1, least(m, 12)), 1)))"""


class InvalidDate(ValueError):
    pass


def _year(text: str) -> int:
    year = int(text)
    # Four digits are Gregorian; two or three are ROC (民國 99 = 2010, 113 = 2024).
    return year if len(text) == 4 else year + ROC_OFFSET


def parse_date(raw: str | None) -> date | None:
    """Parse one date; blank is None; a malformed or impossible date raises InvalidDate."""
    if raw is None:
        return None
    text = str(raw)
    # (ASCII text has nothing to make half-width: only the strip is left of it)
    text = (text.strip() if text.isascii() else to_halfwidth(text)).replace(" ", "")
    if text == "":
        return None
    match = _DATE.match(text)
    if not match:
        raise InvalidDate("not a date in a recognised form (e.g. 113/03/05, 1130305, 2024-03-05)")
    groups = match.groups()
    y, m, d = next(groups[i:i + 3] for i in (0, 3, 6) if groups[i] is not None)
    year, month, day = _year(y), int(m), int(d)
    try:
        return date(year, month, day)
    except ValueError as exc:
        raise InvalidDate(f"not a real calendar date ({exc})") from None


def parse_roc_year_month(raw: str | None) -> date:
    """`11312` → 2024-12-01 (first day of the month)."""
    text = to_halfwidth(str(raw or "")).replace("/", "").replace("-", "")
    match = _ROC_YEAR_MONTH.match(text)
    if not match:
        raise InvalidDate("not an ROC year-month such as 11312")
    year, month = int(match.group(1)) + ROC_OFFSET, int(match.group(2))
    if not 1 <= month <= 12:
        raise InvalidDate(f"month {month} is not between 1 and 12")
    return date(year, month, 1)


# Every shape parse_date accepts, as a writer: the sample generator uses each of them, so
# our own tests cannot pass on a narrower reading of the contract.
DATE_FORMS = {
    "slash": lambda roc, d: f"{roc}/{d.month:02d}/{d.day:02d}",
    "compact": lambda roc, d: f"{roc}{d.month:02d}{d.day:02d}",
    "dash": lambda roc, d: f"{roc}-{d.month:02d}-{d.day:02d}",
    "dot": lambda roc, d: f"{roc}.{d.month:02d}.{d.day:02d}",
    "short_slash": lambda roc, d: f"{roc}/{d.month}/{d.day}",
    "cjk": lambda roc, d: f"民國{roc}年{d.month}月{d.day}日",
    "cjk_bare": lambda roc, d: f"{roc}年{d.month}月{d.day}日",
    "gregorian": lambda roc, d: d.isoformat(),
    "gregorian_slash": lambda roc, d: f"{d.year}/{d.month:02d}/{d.day:02d}",
    "gregorian_compact": lambda roc, d: f"{d.year}{d.month:02d}{d.day:02d}",
}


def to_roc(day: date, form: str) -> str:
    """Write a date the way one sender would (used by the sample generator)."""
    if form not in DATE_FORMS:
        raise ValueError(form)
    return DATE_FORMS[form](day.year - ROC_OFFSET, day)
