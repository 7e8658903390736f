"""The door's limits and quoting rules, from registry/sources.yml (read once)."""

from dataclasses import dataclass
from functools import cache

import yaml

from dagster_project.config import SOURCES_REGISTRY_FILE


@dataclass(frozen=True)
class Door:
    max_file_bytes: dict[str, int]  # "person_level" / "aggregated" → bytes
    max_rows: dict[str, int]
    max_field_chars: int
    max_xlsx_inflated_bytes: int
    max_value_chars: int
    retention_days: int
    families: dict[str, dict]

    def is_person_level(self, family: str) -> bool:
        return bool(self.families[family]["person_level"])

    def kind(self, family: str) -> str:
        return "person_level" if self.is_person_level(family) else "aggregated"

    def non_negative(self, family: str) -> frozenset[str]:
        return frozenset(self.families[family].get("non_negative", ()))

    def within_row(self, family: str) -> list[tuple[str, str]]:
        """(column, at_most) pairs: column ≤ at_most in every row."""
        return [(r["column"], r["at_most"]) for r in self.families[family].get("within_row", ())]

    def quotable(self, family: str) -> frozenset[str]:
        """Canonical columns whose values a message may quote; every column of a family
        that is not person-level."""
        return frozenset(self.families[family].get("quotable", ()))


@cache
def door() -> Door:
    raw = yaml.safe_load(SOURCES_REGISTRY_FILE.read_text(encoding="utf-8"))
    limits = raw["limits"]
    return Door(max_file_bytes=limits["max_file_bytes"], max_rows=limits["max_rows"],
                max_field_chars=int(limits["max_field_chars"]),
                max_xlsx_inflated_bytes=int(limits["max_xlsx_inflated_bytes"]),
                max_value_chars=int(raw["messages"]["max_value_chars"]),
                retention_days=int(raw["quarantine"]["retention_days"]),
                families=raw["families"])
