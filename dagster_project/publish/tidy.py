"""Tidy files of a release: every published mart as Parquet (typed) and CSV (UTF-8 with BOM,
numbers as numbers: no `.0` on counts), and metadata.json / metadata.csv describing every
column (from the dbt models' documentation) and every indicator (from the registry), as
explore-education-statistics and Our World in Data publish theirs."""

import csv
import json
from pathlib import Path

import duckdb
import pandas as pd

from dagster_project.config import DBT_PROJECT_DIR
from dagster_project.lib.duckdb_tables import sql_string
from dagster_project.publish.disclosure import flag_description, rules

DATA_DIR = "data"


def plain_numbers(frame: pd.DataFrame) -> pd.DataFrame:
    """Whole numbers of float columns as integers (1536268, not 1536268.0), the others in
    their shortest exact form: what a CSV reader, or Excel, should see."""
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_float_dtype(out[column]):
            out[column] = pd.Series(
                [None if pd.isna(v) else int(v) if float(v).is_integer() else float(v)
                 for v in out[column]], index=out.index, dtype=object)
    return out


def _column_docs() -> dict[str, tuple[str, dict[str, str]]]:
    """model → (description, column → description) from the dbt manifest of this build."""
    manifest = json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text("utf-8"))
    return {n["name"]: (n.get("description") or "",
                        {c: (d.get("description") or "") for c, d in n["columns"].items()})
            for n in manifest["nodes"].values() if n["resource_type"] == "model"}


def write_tidy(con: duckdb.DuckDBPyConnection, folder: Path, marts: tuple[str, ...]) -> dict:
    """data/<mart>.parquet and data/<mart>.csv for every mart; returns row counts."""
    out = folder / DATA_DIR
    out.mkdir()
    counts = {}
    for mart in marts:
        # Rows in a fixed order: the same figures give the same files, whichever run (and
        # whichever scan order of the build) produced them.
        rows = f"select * from marts.{mart} order by all"
        con.execute(f"copy ({rows}) to {sql_string(out / (mart + '.parquet'))} "
                    "(format parquet, compression zstd)")
        frame = plain_numbers(con.sql(rows).df())
        frame.to_csv(out / f"{mart}.csv", index=False, encoding="utf-8-sig", lineterminator="\n")
        counts[f"{DATA_DIR}/{mart}"] = len(frame)
    return counts


def write_metadata(con: duckdb.DuckDBPyConnection, folder: Path, marts: tuple[str, ...],
                   release_id: str) -> dict:
    """metadata.json (tables, columns, indicators) and metadata.csv (one row per column)."""
    docs = _column_docs()
    tables = []
    for mart in marts:
        described, columns = docs.get(mart, ("", {}))
        tables.append({
            "table": mart, "description": described,
            "files": [f"{DATA_DIR}/{mart}.parquet", f"{DATA_DIR}/{mart}.csv"],
            "columns": [{"name": name, "type": kind, "description": columns.get(name) or flag_description(mart, name) or ""}
                        for name, kind in con.execute(
                            "select column_name, data_type from information_schema.columns "
                            "where table_schema = 'marts' and table_name = ? "
                            "order by ordinal_position", [mart]).fetchall()]})
    indicators = [dict(zip(("code", "name_zh", "name_en", "owner_unit", "source_family", "unit",
                            "direction", "window_kind", "alias_of", "decisions"), row))
                  for row in con.sql("""select indicator_code, name_zh, name_en, owner_unit,
                                               source_family, unit, direction, window_kind,
                                               alias_of, decisions
                                        from registry.indicators order by 1""").fetchall()]
    measures = con.sql("""select indicator_code, measure, group_code, formula, numerator_flow,
                                 denominator_flow, display_precision, unit
                          from registry.indicator_measures order by all""").fetchall()
    for indicator in indicators:
        own = indicator["alias_of"] or indicator["code"]
        indicator["measures"] = [
            {"measure": m, "group": g, "formula": f, "numerator_flow": n, "denominator_flow": d,
             "decimals": p, "unit": u}
            for code, m, g, f, n, d, p, u in measures if code == own]
    meta = {"release_id": release_id, "cite_as": f"T-SDG labour indicator warehouse, release {release_id}",
            "tables": tables, "indicators": indicators,
            # how the county tables are protected (registry/disclosure.yml)
            "disclosure": {"small_counts": [rules().low, rules().high],
                           "flags": rules().flags,
                           "tables": {t.table: {"person_counts": list(t.counts),
                                                "follows": t.follows,
                                                "rates": {k: list(v) for k, v in t.rates.items()},
                                                "margin": list(t.margin),
                                                "inherits": t.inherits}
                                      for t in rules().tables}}}
    (folder / "metadata.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1),
                                          encoding="utf-8")
    with open(folder / "metadata.csv", "w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["table", "column", "type", "description"])
        for table in tables:
            for column in table["columns"]:
                writer.writerow([table["table"], column["name"], column["type"],
                                 column["description"]])
    return {"metadata.tables": len(tables), "metadata.indicators": len(indicators)}
