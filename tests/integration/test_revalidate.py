"""`tsdg revalidate --contract DRAFT`: a contract change is tried on every file the
warehouse holds before it is adopted — exactly the files whose verdict changes are listed,
with their original dates, and nothing is loaded or moved."""

import csv
import io
import os
import subprocess
import sys

import duckdb
import yaml

from dagster_project.config import SOURCES_REGISTRY_FILE
from dagster_project.ingest.files import decode
from dagster_project.lib.reference import counties
from dagster_project.refresh import refresh

NEW_CODE = "OA_NEW_MEASURE"
STRICTER = 5999  # NT$ per participant and quarter, down from 9,000


def _edit(path, edit):
    path.write_text(edit(decode(path, path.read_bytes())), encoding="utf-8")


def test_a_draft_contract_lists_exactly_the_files_whose_verdict_changes(copies, tmp_path):
    # Two files refused today: a measure code the contract does not know yet (sent for
    # every county, so it is complete), and a matched-savings amount over the cap (in a
    # county file whose loaded vintage had no participants, so that vintage passes any cap).
    bli = copies.sources_dir / "labour_insurance" / "bli_11305.csv"
    extra = "".join(f"\n11305,{c['name_zh']},{NEW_CODE},7" for c in counties())
    _edit(bli, lambda t: t.rstrip("\n") + extra + "\n")
    with duckdb.connect(str(copies.working_database), read_only=True) as con:
        name = con.execute("""select l.file_name from raw.county_submissions c
                              join raw.landed_files l on l.file_sha256 = c.file_sha256
                              where l.state = 'loaded' and l.file_name like '%.csv'
                                and c.matched_savings_participants = 0
                              order by 1 limit 1""").fetchall()[0][0]
    county = copies.sources_dir / "county_submissions" / name
    header, row = list(csv.reader(io.StringIO(decode(county, county.read_bytes()))))[:2]
    at = header.index("相對存款參與人數")
    row[at], row[at + 1] = "2", str(2 * 9000 + 1)
    with open(county, "w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows([header, row])
    lines = []
    assert refresh(copies, progress=lines.append) == 0, "\n".join(lines)
    assert f"QUARANTINED {bli.name}" in "\n".join(lines)
    assert f"QUARANTINED {county.name}" in "\n".join(lines)

    # The draft: the new code becomes legitimate; the cap becomes stricter.
    draft = yaml.safe_load(SOURCES_REGISTRY_FILE.read_text(encoding="utf-8"))
    draft["families"]["labour_insurance"]["measure_codes"].append(NEW_CODE)
    for rule in draft["families"]["county_submissions"]["within_row"]:
        if rule["column"] == "matched_savings_amount":
            rule["times"] = STRICTER
    draft_file = tmp_path / "sources_draft.yml"
    draft_file.write_text(yaml.safe_dump(draft, allow_unicode=True), encoding="utf-8")
    before = copies.working_database.read_bytes()
    report = tmp_path / "revalidation.csv"
    done = subprocess.run(
        [sys.executable, "-m", "dagster_project.cli", "revalidate", "--contract", str(draft_file),
         "--warehouse", str(copies.warehouse_dir), "--out", str(report)],
        capture_output=True, text=True, env=os.environ, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]

    # Expected, from the warehouse itself: every loaded county row over the stricter cap.
    with duckdb.connect(str(copies.working_database), read_only=True) as con:
        over = {r[0] for r in con.execute(f"""
            select l.file_name from raw.county_submissions c
            join raw.landed_files l on l.file_sha256 = c.file_sha256 and l.state = 'loaded'
            where c.matched_savings_amount > c.matched_savings_participants * {STRICTER}""").fetchall()}
        dates = {r[0]: (r[1], r[2]) for r in con.execute("""
            select file_name, strftime(received_at, '%Y-%m-%d %H:%M:%S'),
                   strftime(loaded_at, '%Y-%m-%d %H:%M:%S')
            from raw.landed_files where state in ('loaded', 'quarantined')""").fetchall()}
    assert len(over) > 10
    with open(report, encoding="utf-8-sig") as f:
        changed = [r for r in csv.DictReader(f) if r["changed"] == "True"]
    refused = {r["file_name"] for r in changed if r["state"] == "loaded"}
    accepted = {r["file_name"] for r in changed if r["state"] == "quarantined"}
    assert refused == over
    assert accepted == {bli.name}  # the county file stays refused (over both caps)
    for r in changed:
        assert (r["received_at"], r["loaded_at"]) == dates[r["file_name"]]
    assert all("相對存款配合款金額" in r["rule_zh"] for r in changed if r["state"] == "loaded")
    assert f"WOULD ACCEPT labour_insurance/{bli.name}" in done.stdout
    assert f"{len(over)} loaded file(s) would now be refused, 1 refused file(s) would now be taken in" \
        in done.stdout
    # nothing was loaded or moved
    assert copies.working_database.read_bytes() == before
