"""Missing versus nil: a county that did not report is not a county that reported zeros,
and a figure that needs a missing submission is withheld, not computed from the rest."""

import csv
import json
import os
from datetime import datetime

import duckdb

from dagster_project.lib.reference import counties
from dagster_project.refresh import refresh
from dagster_project.sample.generate import COUNTY_HEADER

ON_TIME = datetime(2026, 1, 20, 9).timestamp()  # 2025Q4 closes 2025-12-31; deadline +45 days


def _land_2025q4(s, skip: str, zero: str) -> None:
    folder = s.sources_dir / "county_submissions"
    for c in counties():
        if c["county_code"] == skip:
            continue
        counts = ["0"] * 9 if c["county_code"] == zero else ["100", "60", "20", "30", "20", "5",
                                                                "15000", "10", "9"]
        path = folder / f"{c['county_code']}_114Q4.csv"
        path.write_text(",".join(COUNTY_HEADER) + "\n"
                        + ",".join([c["name_zh"], "114", "4", *counts, "115/01/15"]) + "\n",
                        encoding="utf-8")
        os.utime(path, (ON_TIME, ON_TIME))


def test_missing_county_is_missing_and_a_zero_report_is_zero(copies):
    _land_2025q4(copies, skip="10014", zero="10013")  # 臺東縣 silent, 屏東縣 reports zeros
    lines = []
    code = refresh(copies, progress=lines.append)
    output = "\n".join(lines)
    assert code == 0, output
    release = (copies.releases_dir / "latest").resolve()
    with duckdb.connect(str(release / "release.duckdb"), read_only=True) as con:
        status = {r[0]: r[1:] for r in con.sql(
            """select submitter, status, reported_zero, is_late, current_file
               from marts.submission_status
               where family = 'county_submissions' and period = '2025Q4'""").fetchall()}
        withheld = con.sql("""select indicator_code, measure, indicator_value, numerator, incomplete_reason
                              from marts.indicator_values
                              where as_of = '2025-12-31' and indicator_code = 'SSN.JOINT.1'""").fetchall()
        incomplete = con.sql("""select distinct v.as_of, i.source_family from marts.indicator_values v
                                join registry.indicators i using (indicator_code)
                                where not v.is_complete""").fetchall()
        n_incomplete = con.sql("select count(*) from marts.indicator_values where not is_complete").fetchall()[0][0]
        complete_before = con.sql("""select count(*) from marts.indicator_values
                                     where as_of = '2025-09-30' and indicator_code = 'SSN.JOINT.1'
                                     and is_complete and indicator_value is not null""").fetchall()[0][0]
    assert len(status) == 22
    assert status["10014"] == ("missing", None, True, None)  # past the deadline: late
    assert status["10013"] == ("submitted", True, False, "10013_114Q4.csv")
    assert status["63000"] == ("submitted", False, False, "63000_114Q4.csv")
    # every 2025-12-31 figure of the county programme waits for 臺東縣; none is computed
    assert withheld and all(v is None for _, _, v, _, _ in withheld)
    assert all(n is not None for _, _, _, n, _ in withheld)  # what was received stays visible
    assert all("county_submissions 2025Q4 臺東縣: missing" in r for *_, r in withheld)
    assert complete_before > 0
    manifest = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["attention"]["overdue_submissions"]["count"] == 1
    assert "county_submissions 2025Q4 臺東縣 (missing" in manifest["attention"]["overdue_submissions"]["first"][0]
    # only the figures that need 2025Q4 county data are withheld
    assert {(str(d), src) for d, src in incomplete} == {("2025-12-31", "county_submissions")}
    assert manifest["attention"]["withheld_figures"]["count"] == n_incomplete > len(withheld) > 0
    assert "OVERDUE submissions: 1" in output and "WITHHELD figures (incomplete data)" in output
    assert "check gx_submission_status failed (WARN)" in output  # the alerts in Dagster
    assert "check gx_indicator_values failed (WARN)" in output
    with open(release / "indicators.csv", encoding="utf-8-sig") as f:
        rows = [r for r in csv.DictReader(f)
                if r["indicator_code"] == "SSN.JOINT.1" and r["as_of"] == "2025-12-31"]
    assert rows and all(r["value"] == "" and r["is_complete"] == "False" for r in rows)
