"""Writes the bad-file corpus (tests/corpus/files/<family>/…) and expected.csv.

Run once and commit the output: the files are the corpus, this script documents how each
was made. `python tests/corpus/make_corpus.py`. Every file breaks exactly one rule; its
name is a real contract name in 2024 (ROC 113), so a refresh lands it over a good file of
the sample (a bad resubmission) and must keep the earlier vintage.
"""

import csv
import io
import shutil
from pathlib import Path

from openpyxl import Workbook

from dagster_project.lib.national_id import with_check_digit
from dagster_project.lib.reference import counties
from dagster_project.sample.generate import (
    COUNTY_HEADER,
    LI_HEADER,
    PES_HEADER,
    ROSTER_HEADER,
    TALLY_HEADER,
)

HERE = Path(__file__).parent
OUT = HERE / "files"
GOOD_ID = with_check_digit("A", "12345678")
OTHER_ID = with_check_digit("F", "22345678")
BAD_ID = GOOD_ID[:-1] + str((int(GOOD_ID[-1]) + 1) % 10)
BAD_RESIDENT_ID = (lambda i: i[:-1] + str((int(i[-1]) + 3) % 10))(with_check_digit("A", "80000001"))

CASES: list[tuple[str, str, bytes, str]] = []  # family, file name, bytes, expected message


def text(rows) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def case(family, name, content, expected):
    data = content.encode("utf-8") if isinstance(content, str) else content
    CASES.append((family, name, data, expected))


def county_row(county="臺北市", year="113", quarter="1", **changes):
    row = dict(zip(COUNTY_HEADER, [county, year, quarter, "120", "80", "30", "40", "25", "10",
                                   "30000", "12", "11", "113/04/20"]))
    row.update(changes)
    return row


def county_csv(row, header=COUNTY_HEADER, extra_rows=()):
    return text([header, [row.get(h, "") for h in header], *extra_rows])


def workbook(sheet="填報表", rows=()) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    for r in rows:
        ws.append(list(r))
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


# ---------------------------------------------------------------- county submissions (縣市季報)
C = "county_submissions"
code = {c["name_zh"]: c["county_code"] for c in counties()}
case(C, f"{code['臺北市']}_113Q1.csv", b"\xff\xfe\xfa\xfb not text", "neither UTF-8 nor Big5")
case(C, f"{code['新北市']}_113Q1.csv", b"", "the file is empty")
case(C, f"{code['桃園市']}_113Q1.csv", text([COUNTY_HEADER]), "file has no data rows")
case(C, f"{code['臺中市']}_113Q1.csv",
     county_csv(county_row("臺中市"), [h for h in COUNTY_HEADER if h != "填報日期"]),
     "required column missing")
case(C, f"{code['臺南市']}_113Q1.csv", county_csv(county_row("臺南市", **{"推介就業人數": "十二"})),
     "value '十二': not a whole number")
case(C, f"{code['高雄市']}_113Q1.csv", county_csv(county_row("高雄市", **{"填報日期": "113/02/30"})),
     "not a real calendar date")
case(C, f"{code['基隆市']}_113Q1.csv", county_csv(county_row("新竹市")),
     "county disagrees with the file name")
case(C, f"{code['新竹市']}_113Q1.csv", county_csv(county_row("新竹市", quarter="2")),
     "period disagrees with the file name")
case(C, f"{code['嘉義市']}_113Q1.csv",
     county_csv(county_row("嘉義市"), extra_rows=[list(county_row("嘉義市").values())]),
     "exactly one data row")
case(C, f"{code['新竹縣']}_113Q1.csv", county_csv(county_row("新竹縣", **{"新增共案數": ""})),
     "value is required")
case(C, f"{code['苗栗縣']}_113Q1.csv", county_csv(county_row("火星市")),
     "value '火星市': not a county name in counties.csv")
case(C, f"{code['彰化縣']}_113Q1.xlsx", workbook("Sheet1", [COUNTY_HEADER, list(county_row("彰化縣").values())]),
     "workbook must have a sheet named 填報表")
case(C, f"{code['南投縣']}_113Q1.xlsx", b"PK\x03\x04 this is not a workbook",
     "not a readable XLSX workbook")
case(C, f"{code['雲林縣']}_113Q1.xlsx",
     workbook(rows=[["113年第1季 縣市季報"], ["County", *COUNTY_HEADER[1:]], list(county_row("雲林縣").values())]),
     "no header row starting with 縣市")
case(C, f"{code['屏東縣']}_113Q1.csv",
     county_csv(county_row("屏東縣", **{"相對存款配合款金額": "100000"})),
     "相對存款配合款金額 cannot exceed 相對存款參與人數 × 9,000")
case(C, f"{code['嘉義縣']}_113Q1.csv",
     text([COUNTY_HEADER]) + ",".join(county_row("嘉義縣").values()) + ",extra\n",
     "row has 14 fields, header 13")

# ---------------------------------------------------------------- labour insurance (勞保統計)
L = "labour_insurance"
all_counties = [c["name_zh"] for c in counties()]


def li_rows(month="11301", measures=("INSURED_LI",), value="1000"):
    return [[month, name, m, value] for m in measures for name in all_counties]


case(L, "bli_11301.csv", text([LI_HEADER, *li_rows(), ["11301", "總計", "INSURED_LI", "21999"]]),
     "totals row does not add up")
case(L, "bli_11302.csv", text([LI_HEADER, *li_rows("11302")[:-1]]), "no row for 連江縣 in measure INSURED_LI")
case(L, "bli_11303.csv", text([LI_HEADER, *li_rows("11303"), li_rows("11303")[0]]),
     "each county appears once per measure")
case(L, "bli_11304.csv", text([LI_HEADER, *li_rows("11305")]), "period disagrees with the file name")
case(L, "bli_11305.csv", text([LI_HEADER, *li_rows("11305", ("INSURED_ALL",))]),
     "must be one of INSURED_LI")
case(L, "bli_11306.csv", text([LI_HEADER, *li_rows("11306", value="N/A")]), "value 'N/A': not a whole number")
case(L, "bli_11307.csv", text([LI_HEADER, *li_rows("11307"), ["11307", "臺灣省", "INSURED_LI", "1"]]),
     "value '臺灣省': not a county name")
case(L, "bli_11308.csv", text([["年月", "縣市", "項目代碼", "數值"], *li_rows("11308")]),
     "required column missing")

# ---------------------------------------------------------------- programme tallies (業務統計)
T = "programme_tallies"
case(T, "tally_WDA_113.csv", text([TALLY_HEADER, ["11301", "DLR", "MICROLOAN_APPROVALS", "20"]]),
     "unit disagrees with the file name")
case(T, "tally_DLR_113.csv", text([TALLY_HEADER, ["11201", "DLR", "UNION_FEMALE_CADRES_TRAINED", "5"]]),
     "year disagrees with the file name")
case(T, "tally_XYZ_113.csv", text([TALLY_HEADER, ["11301", "XYZ", "MICROLOAN_APPROVALS", "20"]]),
     "names unit XYZ, which does not send programme_tallies")
case(T, "tally_DLSEE_113.csv", text([TALLY_HEADER, ["11301", "DLSEE", "EQUALITY_WEB_VISITS", "3.5"]]),
     "value '3.5': not a whole number")

# ---------------------------------------------------------------- training rosters (參訓名冊)
R = "training_rosters"


def roster(branch="N", **changes):
    row = dict(zip(ROSTER_HEADER, [branch, "C113-9001", "職前訓練", "N", GOOD_ID, "1990/05/01", "女",
                                   "失業者", "中高齡者", "臺北市", "113/01/15", "113/03/15", "結訓", "Y"]))
    row.update(changes)
    return [row[h] for h in ROSTER_HEADER]


case(R, "roster_113Q1_N.csv", text([ROSTER_HEADER, roster(), roster(**{"身分證統一編號": BAD_ID})]),
     "row 3, column 身分證統一編號: not a valid national ID")
case(R, "roster_113Q1_T.csv", text([ROSTER_HEADER, roster("T", **{"開訓日期": "113/13/01"})]),
     "not a real calendar date")
case(R, "roster_113Q1_C.csv", text([[*ROSTER_HEADER, "備註"], [*roster("C"), "x"]]),
     "unexpected ['備註']")
case(R, "roster_113Q1_Y.csv", text([ROSTER_HEADER, roster("K")]), "must be the branch of the file name (Y)")
case(R, "roster_113Q1_K.csv", text([ROSTER_HEADER, roster("K", **{"特定對象身分": "外星人"})]),
     "unknown target group")
case(R, "roster_113Q2_N.csv", text([ROSTER_HEADER, roster(**{"訓練狀態": "結業"})]),
     "must be one of: 結訓 / 退訓 / 在訓")
case(R, "roster_113Q2_T.csv", text([ROSTER_HEADER, roster("T", **{"戶籍縣市": "台北"})]),
     "row 2, column 戶籍縣市: not a county name")
case(R, "roster_113Q2_C.csv", text([ROSTER_HEADER]) + 'C,"C113-1,職前訓練,N\n', "check quoting and commas")
case(R, "roster_2024Q1_T.csv", text([ROSTER_HEADER, roster("T")]),
     "file name does not follow the training_rosters contract")

# ---------------------------------------------------------------- employment services (求職紀錄)
P = "employment_services"


def pes(branch="N", **changes):
    row = dict(zip(PES_HEADER, [branch, "P113-000001", OTHER_ID, "1980-02-03", "新北市", "",
                                "113/02/01", "113/03/01", "Y"]))
    row.update(changes)
    return [row[h] for h in PES_HEADER]


case(P, "pes_113Q1_N.csv", text([PES_HEADER, pes(**{"身分證統一編號": BAD_RESIDENT_ID})]),
     "not a valid national ID or resident certificate number")
case(P, "pes_113Q1_T.csv", text([PES_HEADER, pes("T", **{"穩定就業滿三個月": "是"})]),
     "must be one of: Y / N / (blank)")
case(P, "pes_113Q1_C.csv", text([PES_HEADER, pes("C", **{"求職登記日期": ""})]), "required value is blank")
case(P, "pes_113Q1_Y.csv", "\ufeff" + text([PES_HEADER[:-1], pes("Y")[:-1]]), "missing ['穩定就業滿三個月']")
case(P, "pes_11301_K.csv", text([PES_HEADER, pes("K")]),
     "file name does not follow the employment_services contract")


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    with open(HERE / "expected.csv", "w", encoding="utf-8", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["family", "file", "expected_message"])
        for family, name, data, expected in CASES:
            (OUT / family).mkdir(parents=True, exist_ok=True)
            (OUT / family / name).write_bytes(data)
            out.writerow([family, name, expected])
    print(f"{len(CASES)} bad files under {OUT}")


if __name__ == "__main__":
    main()
