"""Quarterly partitions (2017Q1 … the current quarter): a partition is one quarter's files
of one source family. Dagster has no quarterly class; a static list keeps keys readable."""

from datetime import date

import dagster as dg

FIRST_YEAR = 2017


def quarter_keys(today: date | None = None) -> list[str]:
    today = today or date.today()
    last = (today.year, (today.month - 1) // 3 + 1)
    return [f"{y}Q{q}" for y in range(FIRST_YEAR, today.year + 1) for q in range(1, 5)
            if (y, q) <= last]


quarterly = dg.StaticPartitionsDefinition(quarter_keys())
