"""A bad file stops `tsdg refresh` with a message a sender can act on."""

from dagster_project.config import settings
from dagster_project.refresh import refresh
from dagster_project.sample.generate import ROSTER_HEADER


def test_refresh_names_file_row_column_and_rule_of_a_bad_file(tmp_path):
    roster = tmp_path / "landing" / "training_rosters" / "roster_113Q2_T.csv"
    roster.parent.mkdir(parents=True)
    roster.write_text(",".join(ROSTER_HEADER) + "\n"
                      "T,T1,職前訓練,N,A123456788,1990-01-01,女,失業者,,臺北市,113/04/01,,在訓,\n",
                      encoding="utf-8")
    lines = []
    code = refresh(settings(tmp_path / "landing", tmp_path / "warehouse"), progress=lines.append)
    output = "\n".join(lines)
    assert code == 1
    assert "FAILED raw__training_rosters" in output
    assert "roster_113Q2_T.csv: row 2, column 身分證統一編號: value 'A*********'" in output
    assert "A123456788" not in output
    assert not (tmp_path / "warehouse" / "releases").exists()
