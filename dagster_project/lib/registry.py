"""The indicator registry (registry/indicators.yml) as flat tables for the warehouse."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from dagster_project.lib.reference import branches, counties, targets
from dagster_project.lib.source_contract import door, flows

FORMULAS = {"count", "ratio", "per_1000", "over_base", "running", "stock", "stock_ratio"}
WINDOW_KINDS = {"stock", "cumulative", "report_year", "calendar_year", "running"}
LAST_YEAR = 9999
BOUNDS = {"share", "ratio"}

# pandas (with numpy, 0.4 s) is imported by the functions that make tables, not with this
# module, which every process that loads the definitions imports.
if TYPE_CHECKING:
    import pandas as pd


class RegistryError(ValueError):
    pass


def load(path: Path) -> list[dict]:
    indicators = yaml.safe_load(path.read_text(encoding="utf-8"))["indicators"]
    codes = {i["code"] for i in indicators}
    declared, families = flows(), set(door().families)
    for ind in indicators:
        if "alias_of" in ind:
            if ind["alias_of"] not in codes:
                raise RegistryError(f"{ind['code']}: alias_of {ind['alias_of']} is not an indicator")
            continue
        if ind["source"] not in families:
            raise RegistryError(f"{ind['code']}: source {ind['source']} is not a family of "
                                "registry/sources.yml")
        if ind["window"]["kind"] not in WINDOW_KINDS:
            raise RegistryError(f"{ind['code']}: unknown window kind {ind['window']['kind']}")
        for m in ind["measures"]:
            undeclared = [f for f in (m["numerator"], m.get("denominator")) if f and f not in declared]
            if undeclared:
                raise RegistryError(f"{ind['code']} {m['measure']}: flow {undeclared[0]} is not "
                                    "declared by a family in registry/sources.yml")
            if m["formula"] not in FORMULAS:
                raise RegistryError(f"{ind['code']} {m['measure']}: unknown formula {m['formula']}")
            if m["formula"] in ("ratio", "per_1000", "stock_ratio") and not m.get("denominator"):
                raise RegistryError(f"{ind['code']} {m['measure']}: {m['formula']} needs a denominator")
            if m["formula"] in ("ratio", "stock_ratio") and m.get("bound") not in BOUNDS:
                raise RegistryError(f"{ind['code']} {m['measure']}: a {m['formula']} declares "
                                    f"bound: share (0–1) or bound: ratio (two populations)")
    return indicators


def tables(path: Path) -> dict[str, pd.DataFrame]:
    """registry.* tables: indicators, indicator_measures, window_rules, targets, counties,
    branches, and the source contract's families and units."""
    import pandas as pd

    indicators = load(path)
    by_code = {i["code"]: i for i in indicators}
    ind_rows, measure_rows, rule_rows = [], [], []
    for ind in indicators:
        base = by_code[ind.get("alias_of", ind["code"])]
        ind_rows.append({
            "indicator_code": ind["code"], "name_zh": ind["name_zh"], "name_en": ind["name_en"],
            "owner_unit": base["owner_unit"], "source_family": base["source"],
            "unit": base["unit"], "direction": base["direction"],
            "frequency": base.get("frequency", "month"), "window_kind": base["window"]["kind"],
            "base_value": base.get("base_value"), "opening_balance": base.get("opening_balance"),
            "opening_date": str(base["opening_date"]) if base.get("opening_date") else None,
            "alias_of": ind.get("alias_of"), "decisions": base.get("decisions"),
        })
        if "alias_of" in ind:
            continue  # an alias is computed from its original, never defined twice
        for m in ind["measures"]:
            measure_rows.append({
                "indicator_code": ind["code"], "measure": m["measure"], "group_code": m["group"],
                "formula": m["formula"], "numerator_flow": m["numerator"],
                "denominator_flow": m.get("denominator"), "display_precision": m["precision"],
                "unit": m.get("unit", ind["unit"]),
                # shares of one population stay within [0, 1]; ratios of two only warn
                "upper_bound": 1.0 if m.get("bound") == "share" else None,
                "plausible_max": m.get("plausible_max"),
            })
        for rule in ind["window"]["rules"]:
            start = rule["start"]
            rule_rows.append({
                "indicator_code": ind["code"], "first_report_year": rule["from"],
                "last_report_year": rule.get("to", LAST_YEAR),
                "start_kind": start if start in ("none", "calendar_year") else "fixed",
                "window_start_year": start if isinstance(start, int) else None,
            })
    target_rows = [{"indicator_code": t["indicator_code"], "measure": t["measure"],
                    "group_code": t["group"], "target_year": int(t["target_year"]),
                    "operator": t["operator"], "target": float(t["target"])} for t in targets()]
    return {
        "indicators": pd.DataFrame(ind_rows),
        "indicator_measures": pd.DataFrame(measure_rows),
        "window_rules": pd.DataFrame(rule_rows).astype({"window_start_year": "Int64"}),
        "targets": pd.DataFrame(target_rows),
        "counties": pd.DataFrame(counties()),
        "branches": pd.DataFrame(branches()),
        "parameters": parameters(path),
        **contract_tables(),
    }


def parameters(path: Path) -> pd.DataFrame:
    """Numbers the counting rules and the contract use, one row each (name, value)."""
    import pandas as pd

    raw = yaml.safe_load(path.read_text(encoding="utf-8")).get("parameters", {})
    rows = [{"name": name, "value": int(p["value"]), "description": p["description"],
             "home": "registry/indicators.yml"} for name, p in raw.items()]
    rows.append({"name": "submission_deadline_days", "value": door().deadline_days,
                 "description": "days after a period's end a submission is due",
                 "home": "registry/sources.yml"})
    return pd.DataFrame(rows)


def contract_tables() -> dict[str, pd.DataFrame]:
    """The families and owner units of registry/sources.yml, for dbt's expected
    submissions and the withheld-figure reasons."""
    import pandas as pd

    d = door()
    families = [{"family": f.name, "title_zh": f.title_zh, "period_grain": f.period,
                 "months_per_period": f.months_per_period, "sender_kind": f.sender_kind,
                 "sender_code": f.sender_code, "flow_prefix": f.flow_prefix,
                 "raw_table": f.raw_table, "person_level": f.person_level}
                for f in d.families.values()]
    units = [{"unit_code": u.code, "name_zh": u.name_zh, "short_zh": u.short_zh,
              "name_en": u.name_en, "family": family}
             for u in d.units for family in (u.sends or (None,))]
    flow_rows = [{"flow_code": code, "family": f.name, "definition": definition}
                 for f in d.families.values() for code, definition in f.flows.items()]
    # Every closed list of values a column may hold (the audit checks staged rows against
    # these rather than a copy of the list in a GX suite).
    codes = [{"family": f.name, "column_name": c.name, "code": code}
             for f in d.families.values() for c in f.columns
             for code in (c.allowed or (f.measure_codes if c.type == "measure_code" else ()))
             if code != ""]
    return {"families": pd.DataFrame(families), "units": pd.DataFrame(units),
            "flows": pd.DataFrame(flow_rows), "codelists": pd.DataFrame(codes)}
