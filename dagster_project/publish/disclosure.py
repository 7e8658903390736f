"""Disclosure control of a release's county-level tables (rules: registry/disclosure.yml).

Applied to the release's own copies of the tables, before any file is written from them, so
every output shows the same protected cells; the warehouse's marts keep the true values.
Primary: a person count of 1–2 is hidden. Secondary: no hidden cell is alone in its margin
(the national total of its quarter), so none is the total minus the published others. A
value tied to a hidden count is hidden with it, a rate with its numerator or denominator,
an earlier vintage of a hidden cell with it. A hidden cell is NULL beside a flag column
naming why (`<column>_flag`: C or D, explained in the release's registry.disclosure_flags).

Set-based: the cells are unpivoted once into a temporary table; the secondary suppression
repeats one UPDATE until no margin holds a lone hidden cell (a few rounds at most).
"""

import functools
from dataclasses import dataclass
from pathlib import Path

import duckdb
import yaml

from dagster_project.config import PROJECT_ROOT

RULES_FILE = PROJECT_ROOT / "registry" / "disclosure.yml"
PRIMARY, SECONDARY = "C", "D"


def flag_column(column: str) -> str:
    return f"{column}_flag"


@dataclass(frozen=True)
class Protected:
    table: str
    key: tuple[str, ...]
    margin: tuple[str, ...]  # empty: no total over this table is published
    counts: tuple[str, ...]
    follows: dict[str, str]
    rates: dict[str, tuple[str, str]]
    inherits: str | None = None

    @property
    def cells(self) -> tuple[str, ...]:
        """Columns whose cells are suppressed one by one (rates follow from them)."""
        return self.counts + tuple(self.follows)


@dataclass(frozen=True)
class Rules:
    low: int
    high: int
    flags: dict[str, dict[str, str]]
    tables: tuple[Protected, ...]

    def table(self, name: str) -> Protected | None:
        return next((t for t in self.tables if t.table == name), None)


@functools.cache
def rules(path: Path = RULES_FILE) -> Rules:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if set(raw["flags"]) != {PRIMARY, SECONDARY}:
        raise ValueError(f"{path.name}: flags must be {PRIMARY} and {SECONDARY}")
    tables: list[Protected] = []
    for name, t in raw["tables"].items():
        parent = next((p for p in tables if p.table == t.get("inherits")), None)
        if t.get("inherits") and parent is None:
            raise ValueError(f"{path.name}: {name} inherits {t['inherits']}, not a table above it")
        if parent:
            tables.append(Protected(name, tuple(t["key"]), (), parent.counts, parent.follows,
                                    parent.rates, parent.table))
            continue
        counts = tuple(t["person_counts"])
        follows = dict(t.get("follows") or {})
        rates = {r: tuple(parts) for r, parts in (t.get("rates") or {}).items()}
        unknown = [c for c in [*follows.values(), *(c for p in rates.values() for c in p)]
                   if c not in counts + tuple(follows)]
        if unknown:
            raise ValueError(f"{path.name}: {name} refers to {unknown[0]}, not a protected column")
        tables.append(Protected(name, tuple(t["key"]), tuple(t.get("margin") or ()), counts,
                                follows, rates))
    return Rules(raw["small_counts"]["min"], raw["small_counts"]["max"], raw["flags"],
                 tuple(tables))


def flag_description(table: str, column: str) -> str | None:
    """The metadata text of a flag column, None for any other column."""
    t = rules().table(table)
    if t is None or not column.endswith("_flag"):
        return None
    base = column.removesuffix("_flag")
    if base not in t.cells + tuple(t.rates):
        return None
    return (f"why {base} is not published (empty: it is): "
            + "; ".join(f"{f} = {r['en']}" for f, r in rules().flags.items()))


def _columns(con, table: str) -> list[str]:
    return [c for (c,) in con.execute(
        "select column_name from information_schema.columns where table_schema = 'marts' "
        "and table_name = ? order by ordinal_position", [table]).fetchall()]


def _on(columns, left: str, right: str) -> str:
    return " and ".join(f"{left}.{c} = {right}.{c}" for c in columns)


def _cells(con, r: Rules, t: Protected, cells: list[str]) -> str:
    """A temporary table of the table's cells (key, measure, value, flag), primary flags set."""
    name = f"_cells_{t.table}"
    key = ", ".join(t.key)
    counts = ", ".join(f"'{c}'" for c in t.counts if c in cells)
    # UNPIVOT leaves out NULLs: a cell reported as no data is not a count of anyone.
    con.execute(f"""
        create or replace temp table {name} as
        select {key}, measure, value,
               case when measure in ({counts}) and value between {r.low} and {r.high}
                    then '{PRIMARY}' end as flag
        from (unpivot (select {key}, {", ".join(f"{c}::bigint as {c}" for c in cells)}
                       from marts.{t.table})
              on {", ".join(cells)} into name measure value value)""")
    if t.inherits:
        parent = r.table(t.inherits)
        con.execute(f"""update {name} as c set flag = p.flag from _cells_{parent.table} as p
                        where {_on(parent.key, 'c', 'p')} and c.measure = p.measure
                          and p.flag is not null and c.flag is null""")
    return name


def _follow(con, name: str, t: Protected, cells: list[str]) -> None:
    for follower, owner in t.follows.items():
        if follower in cells and owner in cells:
            con.execute(f"""update {name} as f set flag = o.flag from {name} as o
                            where {_on(t.key, 'f', 'o')} and f.measure = '{follower}'
                              and o.measure = '{owner}' and o.flag is not null
                              and f.flag is null""")


def _complement(con, name: str, t: Protected) -> int:
    """Hide one more cell in every margin holding exactly one hidden cell: the smallest
    non-zero one (least information lost), a zero only if nothing else is left."""
    margin = ", ".join(t.margin)
    before = con.execute(f"select count(flag) from {name}").fetchall()[0][0]
    con.execute(f"""
        update {name} as c set flag = '{SECONDARY}' from (
            select * from (
                select x.*, row_number() over (partition by {", ".join(f"x.{m}" for m in t.margin)}, x.measure
                                               order by x.value = 0, x.value, {", ".join(f"x.{k}" for k in t.key)}) as pick
                from {name} as x
                join (select {margin}, measure from {name} group by all having count(flag) = 1)
                    as lone using ({margin}, measure)
                where x.flag is null)
            where pick = 1) as p
        where {_on(t.key, 'c', 'p')} and c.measure = p.measure""")
    return con.execute(f"select count(flag) from {name}").fetchall()[0][0] - before


def _rewrite(con, name: str, t: Protected, columns: list[str], cells: list[str]) -> None:
    """The table again, hidden cells NULL, each protected column followed by its flag."""
    flags = ", ".join(f"'{c}'" for c in cells)
    con.execute(f"""create or replace temp table {name}_flags as
                    pivot (select {", ".join(t.key)}, measure, flag from {name}
                           where flag is not null)
                    on measure in ({flags}) using first(flag)""")
    select = []
    for c in columns:
        if c in cells:
            select += [f"case when f.{c} is null then t.{c} end as {c}",
                       f"f.{c} as {flag_column(c)}"]
        elif c in t.rates and all(p in cells for p in t.rates[c]):
            num, den = (f"f.{p}" for p in t.rates[c])
            select += [f"case when coalesce({num}, {den}) is null then t.{c} end as {c}",
                       f"case when '{PRIMARY}' in ({num}, {den}) then '{PRIMARY}' "
                       f"when coalesce({num}, {den}) is not null then '{SECONDARY}' "
                       f"end as {flag_column(c)}"]
        else:
            select.append(f"t.{c}")
    con.execute(f"""create or replace table marts.{t.table} as
                    select {", ".join(select)} from marts.{t.table} as t
                    left join {name}_flags as f using ({", ".join(t.key)})""")


def protect(con: duckdb.DuckDBPyConnection, r: Rules | None = None) -> dict:
    """Protect the release's tables named by the rules (those present in `marts`) in place;
    add registry.disclosure_flags. Returns, per table, the hidden cells by flag and any
    margin left with a lone hidden cell (nothing else to hide in it)."""
    r = r or rules()
    con.execute("create or replace table registry.disclosure_flags "
                "(flag varchar, reason_zh varchar, reason_en varchar)")
    con.executemany("insert into registry.disclosure_flags values (?, ?, ?)",
                    [(f, t["zh"], t["en"]) for f, t in r.flags.items()])
    summary = {}
    for t in r.tables:
        columns = _columns(con, t.table)
        cells = [c for c in t.cells if c in columns]
        if not cells:
            continue
        name = _cells(con, r, t, cells)
        _follow(con, name, t, cells)
        while t.margin and _complement(con, name, t):
            _follow(con, name, t, cells)
        lone = []
        if t.margin:
            lone = [" ".join(map(str, row)) for row in con.execute(
                f"select {', '.join(t.margin)}, measure from {name} group by all "
                "having count(flag) = 1 order by all").fetchall()]
        _rewrite(con, name, t, columns, cells)
        hidden = con.execute(f"select flag, count(*) from {name} where flag is not null "
                             "group by 1 order by 1").fetchall()
        summary[t.table] = {"hidden_cells": dict(hidden), "unprotected_margins": lone}
    for t in r.tables:
        con.execute(f"drop table if exists _cells_{t.table}")
        con.execute(f"drop table if exists _cells_{t.table}_flags")
    return summary
