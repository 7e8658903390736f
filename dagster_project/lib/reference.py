"""Reference data shipped inside the package: counties, branches, targets."""

import csv
from functools import cache
from importlib import resources


def _rows(name: str) -> list[dict]:
    with resources.files("dagster_project.reference").joinpath(name).open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


@cache
def counties() -> list[dict]:
    return _rows("counties.csv")


@cache
def branches() -> list[dict]:
    return _rows("branches.csv")


@cache
def targets() -> list[dict]:
    return _rows("targets.csv")


@cache
def county_name_index() -> dict[str, str]:
    """Every accepted spelling of a county name → county_code."""
    index = {}
    for row in counties():
        names = [row["name_zh"], *filter(None, row["name_variants"].split("|"))]
        for name in names:
            index[name] = row["county_code"]
            # 台/臺 are interchangeable in what senders write.
            index[name.replace("臺", "台")] = row["county_code"]
            index[name.replace("台", "臺")] = row["county_code"]
    return index
