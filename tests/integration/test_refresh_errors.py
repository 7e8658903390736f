"""A bad file is refused with a message a sender can act on; nothing is published from
a landing area that holds nothing good."""

from dagster_project.config import settings
from dagster_project.refresh import refresh
from dagster_project.sample.generate import ROSTER_HEADER


def test_refresh_names_file_row_column_and_rule_of_a_bad_file(tmp_path):
    roster = tmp_path / "landing" / "training_rosters" / "roster_113Q2_T.csv"
    roster.parent.mkdir(parents=True)
    roster.write_text(",".join(ROSTER_HEADER) + "\n"
                      "T,T1,職前訓練,N,A123456788,1990-01-01,女,失業者,,臺北市,113/04/01,,在訓,\n",
                      encoding="utf-8")
    s = settings(tmp_path / "landing", tmp_path / "warehouse")
    lines = []
    code = refresh(s, progress=lines.append)
    output = "\n".join(lines)
    assert code == 1  # nothing good to publish
    assert ("QUARANTINED roster_113Q2_T.csv: row 2, column 身分證統一編號: "
            "not a valid national ID") in output
    assert not roster.exists()
    reports = list(s.quarantine_dir.glob("*/roster_113Q2_T.csv.report.*"))
    assert sorted(p.suffix for p in reports) == [".json", ".txt"]
    assert "A123456788" not in output + "".join(p.read_text(encoding="utf-8") for p in reports)
    assert not s.releases_dir.exists()
