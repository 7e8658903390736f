"""SDMX of a release: the indicator values as SDMX-CSV 2.0 (sdmx/indicators.csv) and the
data structure they follow as an SDMX-ML 3.0 structure message (sdmx/structure.xml).

Dimensions: INDICATOR, MEASURE, GROUP, WINDOW (HEADLINE or YTD), REF_AREA (TW: national
figures only), TIME_PERIOD (the as-of date). Attributes: UNIT_MEASURE, DECIMALS (the
registry's display precision), WINDOW_START, OBS_STATUS (A normal; R revised since the
previous release; L withheld — the value is left empty, never 0 — with OBS_COMMENT saying
which submissions it waits for). The structure is built with pysdmx's model and writer;
the data rows are plain CSV written here, so reading them back with pysdmx is a check."""

import csv
from pathlib import Path

import duckdb
from pysdmx.io import write_sdmx
from pysdmx.io.format import Format
from pysdmx.model import Code, Codelist, Concept, ConceptScheme, DataType
from pysdmx.model.dataflow import Component, Components, DataStructureDefinition, Role

AGENCY = "TW_MOL"
DSD_ID = "DSD_TSDG_LABOUR"
VERSION = "1.0"
STRUCTURE_ID = f"{AGENCY}:{DSD_ID}({VERSION})"
SDMX_DIR = "sdmx"
COLUMNS = ["STRUCTURE", "STRUCTURE_ID", "ACTION", "INDICATOR", "MEASURE", "GROUP", "WINDOW",
           "REF_AREA", "TIME_PERIOD", "OBS_VALUE", "UNIT_MEASURE", "DECIMALS", "WINDOW_START",
           "OBS_STATUS", "OBS_COMMENT"]
OBS_STATUS = {"A": "Normal value", "R": "Revised since the previous release",
              "L": "Withheld: a submission the figure needs is missing or refused"}

OBSERVATIONS = """
    select v.indicator_code, v.measure, v.group_code,
           case when v.is_headline and not v.is_year_to_date then 'HEADLINE' else 'YTD' end,
           strftime(v.as_of, '%Y-%m-%d'), v.indicator_value, v.unit, v.display_precision,
           coalesce(strftime(v.window_start, '%Y-%m-%d'), ''), v.is_complete,
           coalesce(v.incomplete_reason, '')
    from marts.indicator_values as v
    where v.is_headline or v.is_year_to_date
    order by all
"""


def _codelist(cl_id: str, name: str, codes: list[tuple[str, str]]) -> Codelist:
    return Codelist(id=cl_id, name=name, agency=AGENCY, version=VERSION,
                    urn=f"urn:sdmx:org.sdmx.infomodel.codelist.Codelist={AGENCY}:{cl_id}({VERSION})",
                    items=[Code(id=c, name=n) for c, n in codes])


def _concept_urn(cid: str) -> str:
    return f"urn:sdmx:org.sdmx.infomodel.conceptscheme.Concept={AGENCY}:CS_TSDG({VERSION}).{cid}"


def structure(con: duckdb.DuckDBPyConnection) -> DataStructureDefinition:
    """The data structure, its codelists taken from the release's registry tables."""
    indicators = con.sql("select indicator_code, name_en from registry.indicators "
                         "order by 1").fetchall()
    measures = sorted({(m, m) for (m,) in con.sql(
        "select distinct measure from marts.indicator_values").fetchall()})
    groups = sorted({(g, g) for (g,) in con.sql(
        "select distinct group_code from marts.indicator_values").fetchall()})

    def coded(cid, name, codes, role=Role.DIMENSION, required=True):
        cl = _codelist(f"CL_{cid}", name, codes)
        return Component(id=cid, required=required, role=role,
                         concept=Concept(id=cid, name=name, codes=cl, urn=_concept_urn(cid)),
                         local_codes=cl,
                         attachment_level="O" if role == Role.ATTRIBUTE else None)

    def plain(cid, name, dtype, role=Role.ATTRIBUTE, required=False):
        return Component(id=cid, required=required, role=role,
                         concept=Concept(id=cid, name=name, dtype=dtype, urn=_concept_urn(cid)),
                         local_dtype=dtype,
                         attachment_level="O" if role == Role.ATTRIBUTE else None)

    components = [
        coded("INDICATOR", "Indicator", [(c.replace(".", "_"), n) for c, n in indicators]),
        coded("MEASURE", "Measure", measures),
        coded("GROUP", "Group", groups),
        coded("WINDOW", "Window", [("HEADLINE", "Headline window of the registry"),
                                   ("YTD", "Calendar year to date")]),
        coded("REF_AREA", "Reference area", [("TW", "Taiwan (national)")]),
        plain("TIME_PERIOD", "As-of date", DataType.GREGORIAN_TIME_PERIOD, Role.DIMENSION, True),
        plain("OBS_VALUE", "Value", DataType.DOUBLE, Role.MEASURE),
        plain("UNIT_MEASURE", "Unit", DataType.STRING),
        plain("DECIMALS", "Decimals shown", DataType.INTEGER),
        plain("WINDOW_START", "First day of the window", DataType.STRING),
        coded("OBS_STATUS", "Observation status", sorted(OBS_STATUS.items()), Role.ATTRIBUTE,
              required=False),
        plain("OBS_COMMENT", "Why a value is withheld", DataType.STRING),
    ]
    return DataStructureDefinition(id=DSD_ID, name="T-SDG labour indicators", agency=AGENCY,
                                   version=VERSION, components=Components(components))


def write_sdmx_files(con: duckdb.DuckDBPyConnection, folder: Path, revised: set[tuple]) -> dict:
    """sdmx/structure.xml and sdmx/indicators.csv; `revised` holds (indicator, measure,
    group, window_start, as_of) keys of values that changed since the previous release."""
    out = folder / SDMX_DIR
    out.mkdir()
    dsd = structure(con)
    concepts = ConceptScheme(id="CS_TSDG", name="T-SDG labour indicator concepts", agency=AGENCY,
                             version=VERSION, items=[c.concept for c in dsd.components])
    codelists = [c.local_codes for c in dsd.components if c.local_codes is not None]
    write_sdmx([concepts, *codelists, dsd], Format.STRUCTURE_SDMX_ML_3_0,
               output_path=str(out / "structure.xml"))
    rows = con.sql(OBSERVATIONS).fetchall()
    with open(out / "indicators.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(COLUMNS)
        for (code, measure, group, window, as_of, value, unit, decimals, start, complete,
             reason) in rows:
            status = ("L" if not complete else
                      "R" if (code, measure, group, start, as_of) in revised else "A")
            writer.writerow(["datastructure", STRUCTURE_ID, "I", code.replace(".", "_"), measure,
                             group, window, "TW", as_of,
                             "" if status == "L" or value is None else repr(float(value)),
                             unit, decimals, start, status, reason])
    return {"sdmx/indicators.csv": len(rows)}
