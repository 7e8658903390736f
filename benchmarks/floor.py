"""The floor: every indicator value of a landing area, by a hand-written one-pass script.

The referee of the product's speed (benchmarks/compare.py runs the two side by side) and a
second, independent derivation of its figures. It imports nothing from dagster_project:
which rows make each flow is written here from DOMAIN.md, in plain SQL, not taken from the
product's models. Only registry/indicators.yml (the contract as data: which flow a measure
counts, its formula and its window rules) is read, as any reader of the contract would.

What it does, and nothing more:
  1. decode: every CSV that is not UTF-8 is transcoded (CP950, then Big5-HKSCS); a workbook
     (county submissions) contributes its one data row to a CSV. UTF-8 files are read in
     place.
  2. one DuckDB session: read every family's files, normalise full-width digits, ROC and
     Gregorian dates and thousands separators, keep the latest version of each enrolment and
     episode, count the monthly flows, and compute every measure for every as-of date and
     window (the headline window and the calendar year to date).

What it leaves out, because the figures of a well-formed delivery do not need it: the door
(no file of our sample breaks a rule), keyed pseudonyms (a salted hash keys enrolments),
lineage, vintages and withholding, validation and the release. The product does all of
that; the ratio product/floor is the price of it.

    python benchmarks/floor.py LANDING OUT.parquet [--registry registry/indicators.yml]
"""

import argparse
import csv
import secrets
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import yaml

ENCODINGS = ("utf-8", "cp950", "big5hkscs")  # utf-8 first: the BOM is DuckDB's to skip
FAMILIES = ("training_rosters", "employment_services", "labour_insurance",
            "programme_tallies", "county_submissions")


def decode(landing: Path, scratch: Path) -> dict[str, list[str]]:
    """The CSV paths DuckDB reads, per family: UTF-8 files in place, others transcoded."""
    paths: dict[str, list[str]] = {}
    for family in FAMILIES:
        folder = landing / family
        paths[family] = []
        for path in sorted(folder.glob("*.csv")):
            data = path.read_bytes()
            for encoding in ENCODINGS:
                try:
                    text = data.decode(encoding)
                    break
                except UnicodeDecodeError:
                    continue
            else:
                raise SystemExit(f"{path}: not UTF-8, CP950 or Big5-HKSCS")
            if encoding == "utf-8":
                paths[family].append(str(path))
            else:
                out = scratch / family / path.name
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(text, encoding="utf-8")
                paths[family].append(str(out))
        workbooks = sorted(folder.glob("*.xlsx"))
        if workbooks:
            paths[family].append(str(_workbook_rows(workbooks, scratch / f"{family}.xlsx.csv")))
    return paths


def _workbook_rows(workbooks: list[Path], out: Path) -> Path:
    """The data row of each county workbook (sheet 填報表, a title row above the header allowed)."""
    from openpyxl import load_workbook

    with out.open("w", encoding="utf-8", newline="") as f:
        writer, header = csv.writer(f), None
        for path in workbooks:
            book = load_workbook(path, read_only=True, data_only=True)
            sheet = book["填報表"] if "填報表" in book.sheetnames else book.active
            rows = [["" if v is None else str(v) for v in row]
                    for row in sheet.iter_rows(values_only=True)]
            book.close()
            at = next(i for i, row in enumerate(rows) if row and row[0] == "縣市")
            if header is None:
                header = rows[at]
                writer.writerow(header + ["filename"])
            writer.writerow(rows[at + 1][:len(header)] + [str(path)])
    return out


MACROS = r"""
-- Full-width digits and punctuation, and the look-alikes Big5 decoders produce (Big5-HKSCS's
-- ／ read as CP950 is ∕ DIVISION SLASH); the ideographic space is dropped.
create macro hw(s) as translate(trim(s), '０１２３４５６７８９／－．，∕⁄−﹣‐‑﹒　',
                                         '0123456789/-.,//----.');
create macro num(s) as cast(replace(hw(s), ',', '') as bigint);
-- Any date form of DOMAIN.md: 113/3/5, 113-03-05, 113.03.05, 1130305, 990305,
-- 民國113年3月5日, 113年3月5日, 2024-03-05, 2024/03/05, 20240305 → [year, month, day] text.
create macro ymd(s) as string_split(regexp_replace(regexp_replace(regexp_replace(hw(s),
    '^(\d{2,4})[/.-](\d{1,2})[/.-](\d{1,2})$', '\1-\2-\3'),
    '^(?:民國)?(\d{2,4})年(\d{1,2})月(\d{1,2})日$', '\1-\2-\3'),
    '^(\d{2,3}|\d{4})(\d{2})(\d{2})$', '\1-\2-\3'), '-');
create macro to_date(p) as case when p[1] <> '' then make_date(
    cast(p[1] as int) + case when length(p[1]) = 4 then 0 else 1911 end,
    cast(p[2] as int), cast(p[3] as int)) end;
create macro roc_month(s) as make_date(
    cast(regexp_replace(hw(s), '[/-]', '', 'g')[:-3] as int) + 1911,
    cast(regexp_replace(hw(s), '[/-]', '', 'g')[-2:] as int), 1);
create macro age(birth, event) as year(event) - year(birth)
    - case when month(event) * 100 + day(event) < month(birth) * 100 + day(birth) then 1 else 0 end;
create macro file_quarter(f) as cast(regexp_extract(f, '_(\d{2,3})Q[1-4]_', 1) as int) * 10
    + cast(regexp_extract(f, '_\d{2,3}Q([1-4])_', 1) as int);
"""

FLOWS = r"""
-- Training: one row per enrolment (person × course), the latest file's version.
create temp table enrolments as
with raw as (
    select
        file_quarter(filename) as quarter, parse_filename(filename) as file,
        row_number() over (partition by filename) as row_in_file,
        md5('$salt' || upper(hw("身分證統一編號"))) as person, trim("班別代碼") as course_id,
        trim("訓練計畫") as programme, trim("資通訊類") as is_ict, trim("參訓身分") as trainee,
        coalesce(trim("特定對象身分"), '') as groups, trim("訓練狀態") as status,
        coalesce(trim("訓後三個月內就業"), '') as employed,
        ymd("出生日期") as birth, ymd("開訓日期") as start_, ymd("結訓日期") as end_
    from read_csv($training_rosters, header = true, all_varchar = true, filename = true)
),
latest as (
    select * from raw
    qualify row_number() over (partition by person, course_id
                               order by quarter desc, file desc, row_in_file desc) = 1
)
select
    programme, is_ict, trainee, groups, status, employed,
    to_date(birth) as birth_date, to_date(start_) as start_date, to_date(end_) as end_date
from latest;

create temp table training_flows as
with classified as (
    select *,
        programme = '職前訓練' and trainee = '失業者' as pre,
        programme in ('職前訓練', '青年職業訓練') and age(birth_date, start_date) between 15 and 29
            as youth_training,
        status = '結訓' and employed in ('Y', 'N') as known
    from enrolments
),
by_start as (
    select cast(date_trunc('month', start_date) as date) as month,
        count(*) filter (pre) as pre_unemployed_starts,
        count(*) filter (pre and groups <> '') as pre_unemployed_disadvantaged_starts,
        count(*) filter (is_ict = 'Y' and age(birth_date, start_date) between 15 and 29)
            as ict_youth_starts,
        count(*) filter (is_ict = 'Y' and trainee = '失業者') as ict_unemployed_starts,
        count(*) filter (youth_training) as youth_training_starts,
        count(*) filter (programme = '社會創新專案管理') as social_innovation_starts
    from classified group by all
),
by_end as (
    select cast(date_trunc('month', end_date) as date) as month,
        count(*) filter (pre and known) as pre_unemployed_completers_known,
        count(*) filter (pre and known and employed = 'Y') as pre_unemployed_employed,
        count(*) filter (youth_training and known) as youth_training_completers_known,
        count(*) filter (youth_training and known and employed = 'Y') as youth_training_employed
    from classified where end_date is not null group by all
)
select 'tr.' || flow as flow_code, month, amount from by_start
    unpivot (amount for flow in (columns(* exclude (month))))
union all
select 'tr.' || flow, month, amount from by_end
    unpivot (amount for flow in (columns(* exclude (month))));

-- Employment services: one row per episode (案號), the latest file's version.
create temp table pes_flows as
with raw as (
    select
        file_quarter(filename) as quarter, parse_filename(filename) as file,
        row_number() over (partition by filename) as row_in_file,
        trim("案號") as case_id,
        string_split_regex(coalesce(trim("特定對象身分"), ''), '[、;]') as groups,
        coalesce(trim("穩定就業滿三個月"), '') as stable,
        ymd("出生日期") as birth, ymd("求職登記日期") as registered, ymd("推介就業日期") as placed
    from read_csv($employment_services, header = true, all_varchar = true, filename = true)
),
latest as (
    select groups, stable, to_date(birth) as birth_date, to_date(registered) as registration_date,
        to_date(placed) as placement_date
    from raw
    qualify row_number() over (partition by case_id
                               order by quarter desc, file desc, row_in_file desc) = 1
),
classified as (
    select *,
        list_has_any(groups, ['低收入戶', '中低收入戶']) as low_income,
        list_contains(groups, '身心障礙者') as disabled,
        list_contains(groups, '施用毒品者') as drugs
    from latest
),
by_placement as (
    select cast(date_trunc('month', placement_date) as date) as month,
        count(*) filter (low_income) as low_income_placements,
        count(*) filter (disabled) as disability_placements,
        count(*) filter (age(birth_date, placement_date) between 15 and 29) as youth_placements,
        count(*) filter (drugs) as drug_placements,
        count(*) filter (drugs and stable = 'Y') as drug_stable_3m
    from classified where placement_date is not null group by all
),
by_registration as (
    select cast(date_trunc('month', registration_date) as date) as month,
        count(*) filter (disabled) as disability_registrations,
        count(*) filter (drugs) as drug_registrations
    from classified group by all
)
select 'pes.' || flow as flow_code, month, amount from by_placement
    unpivot (amount for flow in (columns(* exclude (month))))
union all
select 'pes.' || flow, month, amount from by_registration
    unpivot (amount for flow in (columns(* exclude (month))));

-- Labour insurance and programme tallies: national monthly sums per measure code.
create temp table aggregated_flows as
select 'li.' || lower(trim("項目代碼")) as flow_code, roc_month("統計年月") as month,
    sum(num("數值")) as amount
from read_csv($labour_insurance, header = true, all_varchar = true)
group by all
union all
select 'tally.' || lower(trim("項目代碼")), roc_month("統計年月"), sum(num("數值"))
from read_csv($programme_tallies, header = true, all_varchar = true)
group by all;

-- County submissions: national sums per quarter, placed on the quarter's last month.
create temp table county_flows as
with forms as (
    select
        make_date(cast(regexp_extract(hw("年度"), '(\d+)', 1) as int) + 1911,
                  cast(regexp_extract(hw("季別"), '([1-4])', 1) as int) * 3, 1) as month,
        num("有就業意願轉介人數") as referred_willing, num("社勞政聯合服務人數") as jointly_served,
        num("新增共案數") as new_joint_cases, num("推介就業人數") as placed,
        num("穩定就業三個月人數") as stable_3m, num("社工核定員額") as sw_posts_approved,
        num("社工進用人數") as sw_posts_filled
    from read_csv($county_submissions, header = true, all_varchar = true, union_by_name = true)
)
select 'cs.' || flow as flow_code, month, sum(amount) as amount
from forms unpivot (amount for flow in (columns(* exclude (month))))
group by all;

create temp table flows as
select flow_code, month, cast(amount as bigint) as amount
from (select * from training_flows union all select * from pes_flows
      union all select * from aggregated_flows union all select * from county_flows)
where amount > 0 or flow_code not like 'tr.%' and flow_code not like 'pes.%';
"""

VALUES = r"""
-- Every month-end (quarter-end for quarterly indicators) from the first report year to the
-- last month the indicator's source reaches.
create temp table as_of as
with reach as (
    select split_part(flow_code, '.', 1) as prefix, max(month) as last_month
    from flows group by all
)
select i.code, last_day(cast(m.month as date)) as as_of, cast(m.month as date) as as_of_month
from indicators as i
inner join reach on reach.prefix = split_part(i.first_flow, '.', 1)
cross join lateral (
    select unnest(generate_series(make_date(i.first_year, 1, 1), reach.last_month,
                                  interval 1 month)) as month
) as m
where i.frequency = 'month' or month(m.month) % 3 = 0;

-- The headline window of the rule for the as-of year, and the calendar year to date.
create temp table windows as
select distinct a.code, a.as_of, a.as_of_month, s.window_start
from as_of as a
inner join indicators as i using (code)
inner join rules as r on r.code = a.code and year(a.as_of) between r.from_year and r.to_year
cross join lateral (
    select case r.start when 'none' then null
                        when 'calendar_year' then make_date(year(a.as_of), 1, 1)
                        else make_date(cast(r.start as int), 1, 1) end as window_start
    union all
    select make_date(year(a.as_of), 1, 1)
    where i.kind in ('cumulative', 'report_year', 'calendar_year')
) as s;

create temp table floor_values as
with w as (
    select windows.*, m.* exclude (code), i.kind, i.base_value, i.opening_balance,
        coalesce(windows.window_start, i.opening_date + 1) as sum_from,
        coalesce(windows.window_start, date '0001-01-01') as wkey  -- joins never match NULL
    from windows
    inner join measures as m using (code)
    inner join indicators as i using (code)
),
sums as (
    select w.code, w.measure, w.group_code, w.as_of, w.wkey,
        sum(n.amount) as num_sum,
        (select sum(amount) from flows as d where d.flow_code = w.denominator
            and d.month between w.sum_from and w.as_of_month) as den_sum,
        (select count(*) from flows as d where d.flow_code = w.denominator
            and d.month between w.sum_from and w.as_of_month) as den_months
    from w
    left join flows as n on n.flow_code = w.numerator and n.month between w.sum_from and w.as_of_month
    where w.formula not in ('stock', 'stock_ratio')
    group by all
),
stocks as (
    select w.code, w.measure, w.group_code, w.as_of, w.wkey,
        max_by(n.amount, n.month) as num_stock, max(n.month) as stock_month
    from w
    inner join flows as n on n.flow_code = w.numerator and n.month <= w.as_of_month
    where w.formula in ('stock', 'stock_ratio')
    group by all
)
select w.code as indicator_code, w.measure, w.group_code, w.as_of,
    case when w.kind in ('running', 'stock') then null else w.window_start end as window_start,
    case w.formula
        when 'count' then coalesce(s.num_sum, 0)
        when 'ratio' then s.num_sum / nullif(s.den_sum, 0)
        when 'per_1000' then s.num_sum / nullif(s.den_sum / nullif(s.den_months, 0), 0) * 1000
        when 'over_base' then coalesce(s.num_sum, 0) / w.base_value
        when 'running' then w.opening_balance + coalesce(s.num_sum, 0)
        when 'stock' then k.num_stock
        when 'stock_ratio' then k.num_stock / nullif(
            (select d.amount from flows as d
             where d.flow_code = w.denominator and d.month = k.stock_month), 0)
    end as indicator_value
from w
left join sums as s using (code, measure, group_code, as_of, wkey)
left join stocks as k using (code, measure, group_code, as_of, wkey);
"""


def registry_tables(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    indicators = yaml.safe_load(path.read_text(encoding="utf-8"))["indicators"]
    by_code = {i["code"]: i for i in indicators}
    ind, rules, measures = [], [], []
    for i in indicators:
        base = by_code[i.get("alias_of", i["code"])]
        first = base["measures"][0]["numerator"]
        ind.append((i["code"], base["window"]["kind"], base.get("frequency", "month"),
                    min(r["from"] for r in base["window"]["rules"]), first,
                    base.get("base_value"), base.get("opening_balance"),
                    str(base["opening_date"]) if "opening_date" in base else None))
        for r in base["window"]["rules"]:
            rules.append((i["code"], r["from"], r.get("to", 9999), str(r["start"])))
        for m in base["measures"]:
            measures.append((i["code"], m["measure"], m["group"], m["formula"], m["numerator"],
                             m.get("denominator")))
    con.execute("""create temp table indicators (code varchar, kind varchar, frequency varchar,
        first_year int, first_flow varchar, base_value double, opening_balance double,
        opening_date date)""")
    con.executemany("insert into indicators values (?, ?, ?, ?, ?, ?, ?, ?)", ind)
    con.execute("create temp table rules (code varchar, from_year int, to_year int, start varchar)")
    con.executemany("insert into rules values (?, ?, ?, ?)", rules)
    con.execute("""create temp table measures (code varchar, measure varchar, group_code varchar,
        formula varchar, numerator varchar, denominator varchar)""")
    con.executemany("insert into measures values (?, ?, ?, ?, ?, ?)", measures)


def floor(landing: Path, out: Path, registry: Path, progress=print) -> int:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tsdg-floor-") as scratch:
        paths = decode(landing, Path(scratch))
        decoded = time.perf_counter()
        con = duckdb.connect()
        con.execute(MACROS)
        registry_tables(con, registry)
        # An enrolment's key is a salted hash of the ID (the salt lives only in this
        # process): should DuckDB spill a table to disk, no national ID goes with it.
        sql = FLOWS.replace("$salt", secrets.token_hex(16))
        for family, files in paths.items():
            sql = sql.replace(f"${family}", "[" + ", ".join(f"'{p}'" for p in files) + "]")
        con.execute(sql)
        con.execute(VALUES)
        con.execute(f"copy floor_values to '{out}' (format parquet)")
        n = con.execute("select count(*) from floor_values").fetchone()[0]
        con.close()
    progress(f"floor: {n} values in {time.perf_counter() - started:.1f} s "
             f"(decoding {decoded - started:.1f} s)")
    return n


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("landing", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--registry", type=Path,
                        default=Path(__file__).resolve().parent.parent / "registry/indicators.yml")
    args = parser.parse_args(argv)
    floor(args.landing, args.out, args.registry)
    return 0


if __name__ == "__main__":
    sys.exit(main())
