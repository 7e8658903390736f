"""The contract at the door, from registry/sources.yml (read once): every source family's
file name, sender, period, columns and rules; the owner units; the door's limits and
quoting rules. Readers, lifecycle, assets and dbt (registry.families) take them from here."""

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from dagster_project.config import SOURCES_REGISTRY_FILE
from dagster_project.lib.text_normalise import to_halfwidth

MONTHS_PER_PERIOD = {"quarter": 3, "month": 1, "year": 12}
SENDER_KINDS = {"county", "branch", "unit"}
READERS = {"person_level", "long", "form"}
COLUMN_TYPES = {"text", "code", "date", "county", "branch", "national_id", "target_groups",
                "roc_year_month", "roc_year", "quarter", "measure_code", "unit", "count"}


class ContractError(ValueError):
    """registry/sources.yml contradicts itself; raised when it is read."""


class UnknownUnit(ValueError):
    pass


@dataclass(frozen=True)
class Column:
    header: str  # as the sender writes it
    name: str  # canonical
    type: str
    required: bool = False
    allowed: tuple[str, ...] | None = None  # "" in the list: blank allowed


@dataclass(frozen=True)
class WithinRow:
    column: str
    at_most: str
    times: int = 1  # column ≤ at_most × times


@dataclass(frozen=True)
class Family:
    name: str
    title_zh: str
    description: str
    pattern: re.Pattern
    example: str
    name_template: str  # str.format over the pattern's groups (e.g. {county}_{roc}Q{q}.{ext})
    sender_kind: str  # county / branch / unit
    sender_field: str | None  # the file-name group naming the sender
    sender_code: str | None  # a family with one fixed sender
    period: str  # quarter / month / year
    raw_table: str
    reader: str  # person_level / long / form
    flow_prefix: str
    person_level: bool
    quotable: frozenset[str]
    columns: tuple[Column, ...]
    measure_codes: tuple[str, ...]
    flows: dict[str, str]  # flow code → definition
    non_negative: frozenset[str]
    within_row: tuple[WithinRow, ...]
    sheet: str | None

    @property
    def months_per_period(self) -> int:
        return MONTHS_PER_PERIOD[self.period]

    @property
    def by_header(self) -> dict[str, str]:
        """header → canonical name, in contract order."""
        return {c.header: c.name for c in self.columns}

    @property
    def header_of(self) -> dict[str, str]:
        return {c.name: c.header for c in self.columns}

    def of_type(self, *types: str) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.type in types)


@dataclass(frozen=True)
class Unit:
    code: str
    name_zh: str
    short_zh: str
    name_en: str
    variants: tuple[str, ...]
    sends: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return (self.code, self.name_zh, self.short_zh, self.name_en, *self.variants)


@dataclass(frozen=True)
class Door:
    max_file_bytes: dict[str, int]  # "person_level" / "aggregated" → bytes
    max_rows: dict[str, int]
    max_field_chars: int
    max_xlsx_inflated_bytes: int
    max_value_chars: int
    retention_days: int
    first_year: int
    deadline_days: int
    families: dict[str, Family]
    units: tuple[Unit, ...]
    target_groups: tuple[str, ...]

    def family(self, name: str) -> Family:
        return self.families[name]

    def is_person_level(self, family: str) -> bool:
        return self.families[family].person_level

    def kind(self, family: str) -> str:
        return "person_level" if self.is_person_level(family) else "aggregated"

    def non_negative(self, family: str) -> frozenset[str]:
        return self.families[family].non_negative

    def within_row(self, family: str) -> tuple[WithinRow, ...]:
        return self.families[family].within_row

    def quotable(self, family: str) -> frozenset[str]:
        """Canonical columns of a person-level family whose values a message may quote
        (every column of an aggregated family may be quoted)."""
        return self.families[family].quotable

    def resolve_unit(self, raw: str | None) -> str:
        """The code of the owner unit a sender named in any registered form."""
        code = _unit_index().get(_unit_key(raw))
        if code is None:
            raise UnknownUnit("not an owner unit of registry/sources.yml (code, Chinese or "
                              "English name)")
        return code


def _unit_key(raw: str | None) -> str:
    return re.sub(r"\s+", " ", to_halfwidth(raw or "")).strip().casefold().replace("台", "臺")


@cache
def _unit_index() -> dict[str, str]:
    return {_unit_key(name): u.code for u in door().units for name in u.names}


def _family(name: str, raw: dict, units: set[str]) -> Family:
    where = f"registry/sources.yml families.{name}"
    sender = raw["sender"]
    if sender["kind"] not in SENDER_KINDS or raw["period"] not in MONTHS_PER_PERIOD:
        raise ContractError(f"{where}: sender kind {sender['kind']!r} or period "
                            f"{raw['period']!r} unknown")
    if raw["reader"] not in READERS:
        raise ContractError(f"{where}: reader {raw['reader']!r} is not one of {sorted(READERS)}")
    if sender.get("code") and sender["code"] not in units:
        raise ContractError(f"{where}: sender {sender['code']} is not a unit")
    pattern = re.compile(raw["file_name"]["pattern"])
    example = pattern.match(raw["file_name"]["example"])
    if not example:
        raise ContractError(f"{where}: the example does not match the pattern")
    if raw["file_name"]["template"].format(**example.groupdict()) != example.group(0):
        raise ContractError(f"{where}: the file-name template does not rebuild the example")
    if bool(sender.get("field")) == bool(sender.get("code")) or (
            sender.get("field") and sender["field"] not in pattern.groupindex):
        raise ContractError(f"{where}: sender names one file-name group or one fixed code")
    columns = tuple(Column(c["header"], c["name"], c["type"], bool(c.get("required")),
                           tuple(str(v) for v in c["allowed"]) if "allowed" in c else None)
                    for c in raw["columns"])
    names = {c.name for c in columns}
    bad_types = [c.name for c in columns if c.type not in COLUMN_TYPES]
    rules = tuple(WithinRow(r["column"], r["at_most"], int(r.get("times", 1)))
                  for r in raw.get("within_row", ()))
    named = set(raw.get("non_negative", ())) | set(raw.get("quotable", ())) | {
        n for r in rules for n in (r.column, r.at_most)}
    flows = dict(raw.get("flows") or {})
    stray = [f for f in flows if not f.startswith(raw["flow_prefix"] + ".")]
    if stray:
        raise ContractError(f"{where}: flows {stray} do not start with {raw['flow_prefix']}.")
    if bad_types or not named <= names:
        raise ContractError(f"{where}: unknown column type in {bad_types} or rule on a "
                            f"column not in the contract: {sorted(named - names)}")
    return Family(
        name=name, title_zh=raw["title_zh"], description=raw["description"], pattern=pattern,
        example=raw["file_name"]["example"], name_template=raw["file_name"]["template"],
        sender_kind=sender["kind"],
        sender_field=sender.get("field"), sender_code=sender.get("code"),
        period=raw["period"], raw_table=raw["raw_table"], reader=raw["reader"], flow_prefix=raw["flow_prefix"],
        person_level=bool(raw["person_level"]), quotable=frozenset(raw.get("quotable", ())),
        columns=columns, measure_codes=tuple(raw.get("measure_codes", ())), flows=flows,
        non_negative=frozenset(raw.get("non_negative", ())), within_row=rules,
        sheet=raw.get("sheet"))


@cache
def door() -> Door:
    raw = yaml.safe_load(SOURCES_REGISTRY_FILE.read_text(encoding="utf-8"))
    limits = raw["limits"]
    units = tuple(Unit(u["code"], u["name_zh"], u["short_zh"], u["name_en"],
                       tuple(u.get("variants", ())), tuple(u.get("sends", ())))
                  for u in raw["units"])
    families = {name: _family(name, f, {u.code for u in units})
                for name, f in raw["families"].items()}
    return Door(max_file_bytes=limits["max_file_bytes"], max_rows=limits["max_rows"],
                max_field_chars=int(limits["max_field_chars"]),
                max_xlsx_inflated_bytes=int(limits["max_xlsx_inflated_bytes"]),
                max_value_chars=int(raw["messages"]["max_value_chars"]),
                retention_days=int(raw["quarantine"]["retention_days"]),
                first_year=int(raw["coverage"]["first_year"]),
                deadline_days=int(raw["submissions"]["deadline_days"]),
                families=families, units=units, target_groups=tuple(raw["target_groups"]))


def use_contract(path) -> None:
    """Read the contract from another file from now on (`tsdg revalidate --contract`: a
    draft of the registry, tried before it is adopted). For a one-shot command."""
    global SOURCES_REGISTRY_FILE
    SOURCES_REGISTRY_FILE = Path(path).resolve()
    door.cache_clear()
    _unit_index.cache_clear()
    door()  # a broken draft fails here, with ContractError


def flows() -> dict[str, str]:
    """Every flow code of every family → the family."""
    return {code: f.name for f in door().families.values() for code in f.flows}


def family_names() -> tuple[str, ...]:
    """Every source family, in registry order."""
    return tuple(door().families)
