"""The bad-file corpus (tests/corpus): every file is refused with its expected message,
quarantined whole with a report, and never disturbs what was already loaded."""

import csv
import json
import os
import re
import shutil
from pathlib import Path

import duckdb
import pytest

from dagster_project.config import settings
from dagster_project.ingest.files import landed_files
from dagster_project.ingest.load import ensure_raw_tables, load_partition, refuse_misnamed
from dagster_project.refresh import refresh

CORPUS = Path(__file__).parents[1] / "corpus"
with open(CORPUS / "expected.csv", encoding="utf-8") as f:
    CASES = list(csv.DictReader(f))


def test_the_corpus_has_at_least_30_files_each_with_an_expected_error():
    files = {p.name for p in (CORPUS / "files").rglob("*") if p.is_file()}
    assert len(CASES) >= 30
    assert files == {c["file"] for c in CASES}
    assert all(c["expected_message"] for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_each_bad_file_is_refused_with_its_message(case, tmp_path):
    landing = tmp_path / "landing"
    (landing / case["family"]).mkdir(parents=True)
    path = landing / case["family"] / case["file"]
    shutil.copy(CORPUS / "files" / case["family"] / case["file"], path)
    with duckdb.connect() as con:
        ensure_raw_tables(con)
        good, misnamed = landed_files(landing, case["family"])
        refused = refuse_misnamed(con, case["family"], misnamed, tmp_path / "q", "run-1")
        for landed in good:
            refused += load_partition(con, landing, case["family"], landed.partitions[0],
                                      tmp_path / "key", tmp_path / "q", "run-1",
                                      log=lambda m: None).quarantined
        loaded = con.sql(f"select count(*) from raw.{case['family']}").fetchall()[0][0]
        states = con.sql("select state from raw.landed_files").fetchall()
    assert [q.file for q in refused] == [case["file"]]
    assert case["expected_message"] in refused[0].first_problem
    assert loaded == 0 and states == [("quarantined",)]
    assert not path.exists()
    report = json.loads(refused[0].report.read_text(encoding="utf-8"))
    assert report["file"] == case["file"] and report["problems"]
    assert {"file", "sheet", "row", "column", "value", "rule", "fix"} <= set(report["problems"][0])
    # every problem is a rule of registry/rules.yml, not the catch-all, told in both languages
    for problem in report["problems"]:
        assert problem["rule_id"] != "other", problem["rule"]
        assert problem["rule_zh"] and problem["fix_zh"] and problem["rule_en"] and problem["fix"]
    assert case["expected_message"] in refused[0].report.with_suffix(".txt").read_text(encoding="utf-8")


def test_the_whole_corpus_through_a_real_refresh(tiny_refreshed, tmp_path, release_digest):
    sources = tmp_path / "landing"
    shutil.copytree(tiny_refreshed.sources_dir, sources)
    shutil.copytree(tiny_refreshed.warehouse_dir, tmp_path / "warehouse", symlinks=True)
    s = settings(sources, tmp_path / "warehouse")
    previous = (s.releases_dir / "latest").resolve()
    previous_digest = release_digest(s)
    # Beside the bad files, a good resubmission: same figures, new bytes (a later date).
    resubmitted = sources / "county_submissions" / "63000_113Q2.csv"
    for old in (sources / "county_submissions").glob("63000_113Q2.*"):
        old.unlink()
    resubmitted.write_text("縣市,年度,季別,有就業意願轉介人數,社勞政聯合服務人數,新增共案數,推介就業人數,"
                           "穩定就業三個月人數,相對存款參與人數,相對存款配合款金額,社工核定員額,社工進用人數,填報日期\n",
                           encoding="utf-8")
    with duckdb.connect(str(s.working_database), read_only=True) as con:
        values = con.execute("""select referred_willing, jointly_served, new_joint_cases, placed,
                                   stable_3m, matched_savings_participants, matched_savings_amount,
                                   sw_posts_approved, sw_posts_filled
                            from staging.stg_county__submissions
                            where county_code = '63000' and report_year = 2024
                            and report_quarter = 2""").fetchone()
    with open(resubmitted, "a", encoding="utf-8") as f:
        f.write(f"臺北市,113,2,{','.join(map(str, values))},113/08/30\n")
    for case in CASES:
        target = sources / case["family"] / case["file"]
        shutil.copy(CORPUS / "files" / case["family"] / case["file"], target)

    lines = []
    code = refresh(s, progress=lines.append)
    output = "\n".join(lines)
    assert code == 0, output
    new = (s.releases_dir / "latest").resolve()
    assert new != previous
    with duckdb.connect(str(s.working_database), read_only=True) as con:
        quarantined = dict(con.sql("""select file_name, state_reason from raw.landed_files
                                      where state = 'quarantined'""").fetchall())
        resubmission = con.sql("""select vintage, state from raw.landed_files
                                  where file_name = '63000_113Q2.csv'""").fetchall()
    for case in CASES:
        # Tables keep where and which rule, never the value sent.
        rule = re.sub(r"^value '.*?': ", "", case["expected_message"])
        assert rule in quarantined[case["file"]], case["file"]
        assert ": value '" not in quarantined[case["file"]], case["file"]
        assert f"QUARANTINED {case['file']}: " in output
        assert not (sources / case["family"] / case["file"]).exists()
        assert len(list(s.quarantine_dir.glob(f"*/{case['file']}.report.json"))) == 1
    assert len(quarantined) == len(CASES)
    assert "check no_quarantined_files failed (WARN)" in output  # the alert in Dagster
    assert resubmission == [(2, "loaded")]  # the good file beside them loaded, as vintage 2
    # the previous release is untouched, and the new one has the same figures
    os.replace(s.releases_dir / "latest", s.releases_dir / "latest.new")
    (s.releases_dir / "latest").symlink_to(previous.name)
    assert release_digest(s) == previous_digest
    assert _figures(previous) == _figures(new)
    manifest = json.loads((new / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["revisions"]["revised"] == 0
    assert manifest["attention"]["quarantined_files"]["count"] == len(CASES)


def _figures(release: Path) -> list[tuple]:
    with open(release / "indicators.csv", encoding="utf-8-sig") as f:
        return [tuple(r[k] for k in ("indicator_code", "measure", "group", "window_start",
                                     "as_of", "value")) for r in csv.DictReader(f)]
