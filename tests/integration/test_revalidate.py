"""`tsdg revalidate --contract DRAFT`: a contract change is tried on every file the
warehouse holds before it is adopted — exactly the files whose verdict changes are listed,
with their original dates, and nothing is loaded or moved. Once adopted, a refresh keeps
the loaded files that now fail until `tsdg revalidate --apply` orders them refused; the next
refresh then quarantines them with their dates and vintages kept, and loads the refused
files that now pass with their original received dates."""

import csv
import io

import duckdb
import pytest
import yaml

from dagster_project.cli import main
from dagster_project.config import SOURCES_REGISTRY_FILE
from dagster_project.ingest.files import decode
from dagster_project.ingest.orders import refusals
from dagster_project.ingest.revalidate import revalidate
from dagster_project.lib.reference import counties
from dagster_project.lib.source_contract import use_contract
from dagster_project.refresh import refresh

pytestmark = pytest.mark.tools

NEW_CODE = "OA_NEW_MEASURE"
STRICTER = 5999  # NT$ per participant and quarter, down from 9,000


def _edit(path, edit):
    path.write_text(edit(decode(path, path.read_bytes())), encoding="utf-8")


@pytest.fixture(scope="module")
def refused_two(tiny_refreshed, tmp_path_factory):
    """A private copy of the tiny warehouse where two files were refused, and a draft of
    the contract under which one of them passes and many loaded county files fail."""
    from conftest import copy_of

    tmp_path = tmp_path_factory.mktemp("revalidate")
    copies = copy_of(tiny_refreshed, tmp_path)
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
    return copies, bli, county, draft_file


def _over(copies) -> set[str]:
    """Every loaded county file with a row over the stricter cap, from the warehouse itself."""
    with duckdb.connect(str(copies.working_database), read_only=True) as con:
        return {r[0] for r in con.execute(f"""
            select l.file_name from raw.county_submissions c
            join raw.landed_files l on l.file_sha256 = c.file_sha256 and l.state = 'loaded'
            where c.matched_savings_amount > c.matched_savings_participants * {STRICTER}""").fetchall()}


def _records(copies) -> dict[str, tuple]:
    with duckdb.connect(str(copies.working_database), read_only=True) as con:
        return {r[0]: r[1:] for r in con.execute("""
            select file_name, state, received_at, loaded_at, vintage, run_id
            from raw.landed_files where state in ('loaded', 'quarantined')""").fetchall()}


def test_a_draft_contract_lists_exactly_the_files_whose_verdict_changes(refused_two, tmp_path,
                                                                       capsys):
    copies, bli, county, draft_file = refused_two
    before = copies.working_database.read_bytes()
    report = tmp_path / "revalidation.csv"
    capsys.readouterr()
    try:  # `tsdg revalidate` as a user types it (in this process: the imports are made)
        code = main(["revalidate", "--contract", str(draft_file),
                     "--warehouse", str(copies.warehouse_dir), "--out", str(report)])
    finally:  # the command's process ends with the draft in use; this one goes on
        use_contract(SOURCES_REGISTRY_FILE)
    said = capsys.readouterr()
    assert code == 0, said.err[-2000:]

    # Expected, from the warehouse itself: every loaded county row over the stricter cap.
    over = _over(copies)
    with duckdb.connect(str(copies.working_database), read_only=True) as con:
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
    assert f"WOULD ACCEPT labour_insurance/{bli.name}" in said.out
    assert f"{len(over)} loaded file(s) would now be refused, 1 refused file(s) would now be taken in" \
        in said.out
    # nothing was loaded or moved
    assert copies.working_database.read_bytes() == before


def test_a_draft_rule_on_person_level_rows_refuses_exactly_the_files_holding_such_a_row(
        refused_two, tmp_path):
    """The files of a family are checked together, in one pass: every file that breaks the
    draft's rule is named with its own first row, none of the others."""
    copies, *_ = refused_two
    draft = yaml.safe_load(SOURCES_REGISTRY_FILE.read_text(encoding="utf-8"))
    [status] = [c for c in draft["families"]["training_rosters"]["columns"]
                if c["name"] == "trainee_status"]
    status["allowed"].remove("在學")
    draft_file = tmp_path / "sources_draft.yml"
    draft_file.write_text(yaml.safe_dump(draft, allow_unicode=True), encoding="utf-8")
    # Expected, from the warehouse itself: the loaded rosters with a row of 在學, and its first.
    with duckdb.connect(str(copies.working_database), read_only=True) as con:
        expected = {r[0]: r[1] for r in con.execute("""
            select l.file_name, min(r.source_row) from raw.training_rosters as r
            join raw.landed_files as l on l.file_sha256 = r.file_sha256 and l.state = 'loaded'
            where r.trainee_status = '在學' group by 1""").fetchall()}
        loaded = con.execute("""select count(*) from raw.landed_files
                                where family = 'training_rosters' and state = 'loaded'""").fetchone()[0]
    assert 5 < len(expected) < loaded
    use_contract(draft_file)
    try:
        verdicts = revalidate(copies, "training_rosters", progress=lambda m: None)
    finally:
        use_contract(SOURCES_REGISTRY_FILE)
    assert len(verdicts) == loaded
    refused = {v.file_name: v.rule for v in verdicts if v.now == "refused"}
    assert set(refused) == set(expected)
    for name, row in expected.items():
        assert refused[name] == f"row {row}, column 參訓身分: must be one of: 失業者 / 在職者", name
    assert all(v.now == "passes" for v in verdicts if v.file_name not in expected)


@pytest.fixture
def adopted(refused_two):
    """The draft adopted as the contract for this test (restored after)."""
    use_contract(refused_two[3])
    yield refused_two
    use_contract(SOURCES_REGISTRY_FILE)


def test_once_adopted_failing_files_are_kept_until_apply_then_refused_with_their_dates(adopted, capsys):
    copies, bli, county, _ = adopted
    over, before = _over(copies), _records(copies)
    quarter = next(iter(sorted(over)))  # a county file name: 65000_113Q3.csv → 2024Q3
    roc, q = quarter.split("_")[1].split(".")[0].split("Q")
    lines = []
    # 1. Adopted, no order: a refresh reading that quarter again keeps its failing files.
    assert refresh(copies, progress=lines.append, quarters=[f"{int(roc) + 1911}Q{q}"]) == 0, "\n".join(lines)
    assert "KEPT" in "\n".join(lines) and quarter in "\n".join(lines)
    after = _records(copies)
    assert all(after[name][0] == "loaded" for name in over)
    assert (copies.sources_dir / "county_submissions" / quarter).is_file()

    # 2. --apply: orders for exactly those files; the refused BLI file back in the landing area.
    capsys.readouterr()
    assert main(["revalidate", "--apply", "--sources", str(copies.sources_dir),
                 "--warehouse", str(copies.warehouse_dir)]) == 0
    said = capsys.readouterr().out
    assert {k[1] for k in refusals(copies)} == over
    assert f"RETURNED labour_insurance/{bli.name}" in said
    assert bli.is_file()

    # 3. The next refresh acts on them.
    lines = []
    assert refresh(copies, progress=lines.append) == 0, "\n".join(lines)
    now = _records(copies)
    for name in over:
        state, received, loaded, vintage, run_id = now[name]
        assert state == "quarantined", name
        assert (received, loaded, vintage) == before[name][1:4], name  # dates and vintage kept
        assert run_id != before[name][4]
        assert not (copies.sources_dir / "county_submissions" / name).exists()
        assert f"QUARANTINED {name}" in "\n".join(lines)
    assert refusals(copies) == {}  # every order acted on
    assert now[bli.name][0] == "loaded" and now[bli.name][1] == before[bli.name][1]
    with duckdb.connect(str(copies.working_database), read_only=True) as con:
        used = {r[0] for r in con.execute(
            "select source_file from marts.county_programme_quarterly").fetchall()}
        vintages = con.execute("""select count(*) from marts.county_submission_vintages
                                  where file_name = ? and not is_current""", [quarter]).fetchall()
    assert not used & over  # no figure uses a refused file
    assert vintages == [(1,)]  # its vintage stays in the history, current for no figure
