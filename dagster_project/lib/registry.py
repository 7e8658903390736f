"""The indicator registry (registry/indicators.yml) as flat tables for the warehouse."""

from pathlib import Path

import pandas as pd
import yaml

from dagster_project.lib.reference import branches, counties, targets

FORMULAS = {"count", "ratio", "per_1000", "over_base", "running", "stock", "stock_ratio"}
WINDOW_KINDS = {"stock", "cumulative", "report_year", "calendar_year", "running"}
LAST_YEAR = 9999
BOUNDS = {"share", "ratio"}


class RegistryError(ValueError):
    pass


def load(path: Path) -> list[dict]:
    indicators = yaml.safe_load(path.read_text(encoding="utf-8"))["indicators"]
    codes = {i["code"] for i in indicators}
    for ind in indicators:
        if "alias_of" in ind:
            if ind["alias_of"] not in codes:
                raise RegistryError(f"{ind['code']}: alias_of {ind['alias_of']} is not an indicator")
            continue
        if ind["window"]["kind"] not in WINDOW_KINDS:
            raise RegistryError(f"{ind['code']}: unknown window kind {ind['window']['kind']}")
        for m in ind["measures"]:
            if m["formula"] not in FORMULAS:
                raise RegistryError(f"{ind['code']} {m['measure']}: unknown formula {m['formula']}")
            if m["formula"] in ("ratio", "per_1000", "stock_ratio") and not m.get("denominator"):
                raise RegistryError(f"{ind['code']} {m['measure']}: {m['formula']} needs a denominator")
            if m["formula"] in ("ratio", "stock_ratio") and m.get("bound") not in BOUNDS:
                raise RegistryError(f"{ind['code']} {m['measure']}: a {m['formula']} declares "
                                    f"bound: share (0–1) or bound: ratio (two populations)")
    return indicators


def tables(path: Path) -> dict[str, pd.DataFrame]:
    """ref.* tables: indicators, indicator_measures, window_rules, targets, counties, branches."""
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
    }
