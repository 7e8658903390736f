"""The quarters the warehouse covers: from the registry's first year to the current quarter.
A quarter is the partition of every source family (Dagster's partition keys are these)."""

from datetime import date

from dagster_project.lib.source_contract import door


def quarter_keys(today: date | None = None) -> list[str]:
    today = today or date.today()
    last = (today.year, (today.month - 1) // 3 + 1)
    return [f"{y}Q{q}" for y in range(door().first_year, today.year + 1) for q in range(1, 5)
            if (y, q) <= last]


# The quarters as of this process's start: Dagster's partition keys (defs/partitions.py) and
# the change scan's, one list, without importing Dagster for the scan.
QUARTERS = quarter_keys()
