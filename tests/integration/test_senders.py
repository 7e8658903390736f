"""`tsdg senders`: a status letter per sender for a quarter, from the latest release — read
back by headless Chromium (printed: one page per sender, Chinese text in the PDF) and by
openpyxl."""

import re
import shutil
import subprocess
from datetime import date

import pytest
from openpyxl import load_workbook

from dagster_project.cli import main
from dagster_project.publish.senders import write_letters
from dagster_project.refresh import refresh

pytestmark = pytest.mark.tools

HEADER = ("縣市,年度,季別,有就業意願轉介人數,社勞政聯合服務人數,新增共案數,推介就業人數,穩定就業三個月人數,"
          "相對存款參與人數,相對存款配合款金額,社工核定員額,社工進用人數,填報日期\n")


@pytest.fixture(scope="module")
def new_quarter(tiny_refreshed, tmp_path_factory):
    """2025Q4, after the sample: 臺北市 sends a good file, 新北市 one that breaks a
    within-row rule, the other twenty counties nothing yet."""
    from conftest import copy_of

    s = copy_of(tiny_refreshed, tmp_path_factory.mktemp("senders"))
    county = s.sources_dir / "county_submissions"
    (county / "63000_114Q4.csv").write_text(
        HEADER + "臺北市,114,4,100,80,3,40,20,10,30000,12,11,115/01/20\n", encoding="utf-8")
    (county / "65000_114Q4.csv").write_text(
        HEADER + "新北市,114,4,100,120,3,40,20,10,30000,12,11,115/01/21\n", encoding="utf-8")
    lines = []
    assert refresh(s, progress=lines.append) == 0, "\n".join(lines)
    out = tmp_path_factory.mktemp("letters")
    release = (s.releases_dir / "latest").resolve()
    written = write_letters(release / "release.duckdb", release.name, "2025Q4", out,
                            today=date(2026, 3, 1))
    return s, out, written


def test_one_letter_per_expected_sender_with_what_arrived_was_refused_or_is_missing(new_quarter):
    _, out, written = new_quarter
    # 22 counties (the quarter is expected of all once one sent it) and the three owner
    # units whose yearly 2025 tallies cover the quarter; nothing else is due for 2025Q4.
    pages = sorted(p.stem for p in written if p.suffix == ".html" and p.stem != "letters")
    assert len(pages) == 25 and {"63000", "65000", "WDA", "DLR", "DLSEE"} <= set(pages)
    taipei = load_workbook(out / "63000.xlsx").active
    rows = list(taipei.iter_rows(min_row=3, values_only=True))
    assert taipei["A2"].value == "資料類別\nFamily"
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in rows] == [
        ("縣市季報 (county_submissions)", "2025Q4", "已收妥 (received)", "63000_114Q4.csv",
         date.today().isoformat())]
    refused = list(load_workbook(out / "65000.xlsx").active.iter_rows(min_row=3, values_only=True))
    assert refused[0][2] == "退件，待重送 (refused, awaiting resubmission)"
    assert "「社勞政聯合服務人數」不得大於「有就業意願轉介人數」" in refused[0][8]
    missing = list(load_workbook(out / "66000.xlsx").active.iter_rows(min_row=3, values_only=True))
    # 2025Q4 ends 12-31; due 45 days later (2026-02-14); 15 days late on 2026-03-01
    assert (missing[0][2], missing[0][6], missing[0][7]) == ("未送 (not received)", "2026-02-14", 15)


def test_the_letters_print_one_page_per_sender_with_chinese_text(new_quarter, tmp_path):
    _, out, _ = new_quarter
    assert shutil.which("chromium") and shutil.which("pdfinfo"), "run `make system-deps`"
    pdf = tmp_path / "letters.pdf"
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                    "--no-pdf-header-footer", f"--print-to-pdf={pdf}",
                    (out / "letters.html").as_uri()],
                   check=True, capture_output=True, timeout=120)
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True).stdout
    assert re.search(r"^Pages:\s+(\d+)$", info, re.M).group(1) == "25"
    text = subprocess.run(["pdftotext", "-f", "1", "-l", "1", str(pdf), "-"], check=True,
                          capture_output=True, text=True).stdout
    assert "資料報送狀態" in text and "Submission status" in text  # Chinese glyphs, not boxes


def test_the_command_names_its_output_and_refuses_a_bad_quarter(new_quarter, tmp_path, capsys):
    s, _, _ = new_quarter
    assert main(["senders", "--warehouse", str(s.warehouse_dir), "--quarter", "2025Q4",
                 "--sender", "65000", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["65000.html", "65000.xlsx", "letters.html"]
    assert f"1 status letter(s) for 2025Q4 in {tmp_path}" in capsys.readouterr().out
    assert main(["senders", "--warehouse", str(s.warehouse_dir), "--quarter", "2025-10"]) == 2
