"""Resolve a county name as written by a sender to its county_code."""

from dagster_project.lib.reference import county_name_index
from dagster_project.lib.text_normalise import to_halfwidth


class UnknownCounty(ValueError):
    pass


def resolve_county(raw: str | None) -> str:
    name = to_halfwidth(raw or "").replace(" ", "")
    code = county_name_index().get(name)
    if code is None:
        raise UnknownCounty("not a county name in counties.csv")
    return code
