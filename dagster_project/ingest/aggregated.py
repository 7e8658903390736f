"""Aggregated families (labour insurance, programme tallies, county submissions): small
files, parsed in Python into rows (a dict per row, without lineage: the loader adds it)."""

import csv
import io
import zipfile
from datetime import date, datetime, time

from dagster_project.ingest.files import BadFile, LandedFile, decode
from dagster_project.ingest.problems import FileRejected, Problem, whole_file
from dagster_project.lib.counties import UnknownCounty, resolve_county
from dagster_project.lib.reference import counties
from dagster_project.lib.roc_dates import InvalidDate, parse_date, parse_roc_year_month
from dagster_project.lib.source_contract import UnknownUnit, door
from dagster_project.lib.text_normalise import NotANumber, is_placeholder, parse_count, to_halfwidth

TOTALS_ROW_NAMES = {"總計", "合計", "全國", "全國合計"}

# A placeholder (-, －, …) is "no data": the value is NULL and the reason is kept beside it.
RAW_DDL = {
    "raw.labour_insurance": """period_month date, county_code varchar, measure_code varchar,
        value bigint, value_note varchar""",
    "raw.programme_tallies": """period_month date, unit varchar, measure_code varchar,
        value bigint, value_note varchar""",
    "raw.county_submissions": """county_code varchar, year int, quarter int,
        referred_willing bigint, jointly_served bigint, new_joint_cases bigint, placed bigint,
        stable_3m bigint, matched_savings_participants bigint, matched_savings_amount bigint,
        sw_posts_approved bigint, sw_posts_filled bigint, submitted_on date, no_data varchar[]""",
}
# Columns added after the first release of a table: added to older warehouses in place.
ADDED_COLUMNS = (("raw.labour_insurance", "value_note", "varchar"),
                 ("raw.programme_tallies", "value_note", "varchar"),
                 ("raw.county_submissions", "no_data", "varchar[]"))


class RowReader:
    """Collects every problem of a file instead of stopping at the first."""

    def __init__(self, landed: LandedFile, sheet: str | None = None,
                 letters: dict[str, str] | None = None):
        self.landed, self.sheet, self.problems = landed, sheet, []
        self.letters = letters or {}  # header → the workbook's column letter

    def fail(self, row, column, value, rule):
        letter = self.letters.get(column)
        cell = f"{letter}{row}" if letter and row is not None else None
        self.problems.append(Problem(self.landed.name, row, column, str(value), rule, self.sheet,
                                     cell=cell))

    def parse(self, fn, row, column, value):
        """fn(value), or None with a problem whose rule is the parser's own words."""
        try:
            return fn(value)
        except (InvalidDate, NotANumber, UnknownCounty, UnknownUnit) as exc:
            self.fail(row, column, value, str(exc))
            return None

    def raise_if_any(self):
        if self.problems:
            raise FileRejected(self.landed.name, self.problems)


def _csv_rows(landed: LandedFile, data: bytes, columns: dict) -> list[tuple[int, dict]]:
    """Rows as (row number, {canonical: text}); header must match the contract."""
    try:
        text = decode(landed.path, data)
    except BadFile as exc:
        raise whole_file(landed.name, str(exc)) from None
    reader = csv.reader(io.StringIO(text))
    limits = door()
    try:
        header = [h.strip().lstrip("\ufeff") for h in next(reader)]
        body = []
        for number, row in enumerate(reader, start=2):
            if number - 1 > limits.max_rows["aggregated"]:
                raise whole_file(landed.name, f"too large: more than "
                                              f"{limits.max_rows['aggregated']:,} data rows")
            body.append((number, row))
    except csv.Error as exc:  # e.g. a field past csv's own limit, a NUL byte
        raise FileRejected(landed.name, [Problem(landed.name, reader.line_num, "(row)", "",
                                                 f"not a readable CSV row ({exc})")]) from None
    return _rows_under(landed, header, body, columns)


def _rows_under(landed, header, body, columns, header_row=1, sheet=None) -> list[tuple[int, dict]]:
    missing = [h for h in columns if h not in header]
    if missing:
        raise FileRejected(landed.name, [Problem(landed.name, header_row, ", ".join(missing),
                                                 ",".join(header), "required column missing", sheet)])
    rows = []
    longest = door().max_field_chars
    for number, values in body:
        if not any(str(v or "").strip() for v in values):
            continue  # trailing empty rows
        too_long = [h for h, v in zip(header, values) if len(str(v or "")) > longest]
        if too_long:
            raise FileRejected(landed.name, [Problem(landed.name, number, too_long[0], "",
                                                     f"longer than {longest} characters", sheet)])
        if len(values) != len(header):
            raise FileRejected(landed.name, [Problem(landed.name, number, "(row)", ",".join(values),
                                                     f"row has {len(values)} fields, header {len(header)}",
                                                     sheet)])
        rows.append((number, {columns[h]: ("" if v is None else str(v).strip())
                              for h, v in zip(header, values) if h in columns}))
    if not rows:
        raise FileRejected(landed.name, [Problem(landed.name, None, "(whole file)", "", "file has no data rows",
                                                 sheet)])
    return rows


def _count(r: RowReader, number: int, header: str, raw: str,
           non_negative: bool = True) -> tuple[int | None, str | None]:
    """(value, note): a placeholder is no data (NULL, never 0); a blank is an error."""
    if is_placeholder(raw):
        return None, f"no data ({raw})"
    if raw == "":
        r.fail(number, header, "", "value is required (write - for no data)")
        return None, None
    value = r.parse(parse_count, number, header, raw)
    if value is not None and value < 0 and non_negative:
        r.fail(number, header, raw, "a count cannot be negative")
        return None, None
    return value, None


def _in_partition(day, partition: str) -> bool:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}" == partition


def _blank_required(r: "RowReader", contract, number: int, row: dict) -> None:
    """A required column left blank (counts say so themselves, with the placeholder hint)."""
    for c in contract.columns:
        if c.required and c.type != "count" and row.get(c.name, "") == "":
            r.fail(number, c.header, "", "required value is blank")


def _period_agrees(month, landed: LandedFile, period: str) -> bool:
    """A month of a monthly file is the file's month; of a yearly file, in its year."""
    if period == "month":
        return (month.year, month.month) == (landed.fields["year"], int(landed.fields["month"]))
    if period == "year":
        return month.year == landed.fields["year"]
    return _in_partition(month, f"{landed.fields['year']}Q{landed.fields['q']}")


def read_long_file(landed: LandedFile, data: bytes, partition: str) -> list[dict]:
    """A long file (統計年月, a county or unit column, 項目代碼, 數值): labour-insurance counts
    per county, programme tallies per owner unit. Columns, codes and rules: the registry."""
    contract = door().family(landed.family)
    header_of = contract.header_of
    period_col, = contract.of_type("roc_year_month")
    code_col, = contract.of_type("measure_code")
    value_col, = contract.of_type("count")
    by_county = "county" in contract.of_type("county")
    r = RowReader(landed)
    sender = _file_unit(landed, contract)
    out, totals = [], []
    for number, row in _csv_rows(landed, data, contract.by_header):
        _blank_required(r, contract, number, row)
        month = r.parse(parse_roc_year_month, number, header_of[period_col], row[period_col])
        value, note = _count(r, number, header_of[value_col], row[value_col],
                             value_col in contract.non_negative)
        if row[code_col] not in contract.measure_codes:
            r.fail(number, header_of[code_col], row[code_col],
                   f"must be one of {', '.join(contract.measure_codes)}")
        if month and not _period_agrees(month, landed, contract.period):
            r.fail(number, header_of[period_col], row[period_col],
                   f"{'period' if contract.period == 'month' else contract.period} disagrees "
                   "with the file name")
        record = {"source_row": number, "period_month": month, "measure_code": row[code_col],
                  "value": value, "value_note": note}
        if by_county:
            if to_halfwidth(row["county"]).replace(" ", "") in TOTALS_ROW_NAMES:
                totals.append((number, row[code_col], value))
                continue  # checked against the counties below, never loaded
            record["county_code"] = r.parse(resolve_county, number, header_of["county"],
                                            row["county"])
        for col in contract.of_type("unit"):
            unit = r.parse(door().resolve_unit, number, header_of[col], row[col])
            if unit and sender and unit != sender:
                r.fail(number, header_of[col], row[col],
                       f"unit disagrees with the file name ({sender})")
            record[col] = sender or unit
        if month and _in_partition(month, partition):
            out.append(record)
    if by_county:
        _check_counties(r, out, totals)
    r.raise_if_any()
    return out


def _file_unit(landed: LandedFile, contract) -> str | None:
    """The owner unit a file name names (tally_WDA_113.csv → WDA): a registered unit that
    sends this family, else the whole file is refused."""
    if contract.sender_kind != "unit" or not contract.sender_field:
        return None
    named = landed.fields[contract.sender_field]
    senders = [u.code for u in door().units if landed.family in u.sends]
    if named not in senders:
        raise whole_file(landed.name, f"the file name names unit {named}, which does not send "
                                      f"{landed.family} (registered: {', '.join(senders)})",
                         "file name", landed.name)
    return named


def _check_counties(r: RowReader, rows: list[dict], totals: list) -> None:
    """A labour-insurance month names every county once per measure; a totals row, if
    present, equals the sum of the counties."""
    all_codes = {c["county_code"]: c["name_zh"] for c in counties()}
    seen: dict[tuple, int] = {}
    for row in rows:
        key = (row["measure_code"], row["county_code"])
        if row["county_code"] and key in seen:
            r.fail(row["source_row"], "縣市", all_codes.get(row["county_code"], row["county_code"]),
                   f"each county appears once per measure; {key[0]} already on row {seen[key]}")
        seen.setdefault(key, row["source_row"])
    for measure in sorted({m for m, _ in seen}):
        missing = [name for code, name in all_codes.items() if (measure, code) not in seen]
        if missing:
            r.fail(None, "縣市", "", f"no row for {', '.join(missing)} in measure {measure} "
                                    f"(all {len(all_codes)} counties are required)")
    for number, measure, value in totals:
        parts = [x["value"] for x in rows if x["measure_code"] == measure]
        if value is not None and None not in parts and sum(parts) != value:
            r.fail(number, "數值", f"{value:,}", f"totals row does not add up: the counties of "
                                                 f"{measure} sum to {sum(parts):,}")


def _cell_text(value) -> str:
    """A cell as the text a sender would have typed: a date cell (Excel stores a date typed
    into a date-formatted or date-validated cell as a date) as its ISO date, a whole number
    stored as a float as that number."""
    if value is None:
        return ""
    if isinstance(value, datetime) and value.time() == time(0):
        return value.date().isoformat()
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _column_letter(number: int) -> str:
    """A spreadsheet column's letters: 1 → A, 27 → AA."""
    letters = ""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _sheet_cells(landed: LandedFile, data: bytes, sheet: str) -> list[list]:
    """The cells of a workbook's sheet from A1, row by row (empty cells as ""), read by
    calamine: the tiny sample's 234 forms in 0.015 s of CPU, where openpyxl took 0.46 s
    (and its import). Values are those Excel stored (a formula's last result); a number
    with a date format is a date, as openpyxl read it."""
    from python_calamine import CalamineWorkbook

    try:
        wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
        if sheet not in wb.sheet_names:
            raise FileRejected(landed.name, [Problem(landed.name, None, "sheet",
                                                     ",".join(wb.sheet_names),
                                                     f"workbook must have a sheet named {sheet}")])
        found = wb.get_sheet_by_name(sheet)
        # Rows count from row 1, as Excel numbers them: the used range's height (checked
        # first, before the cells are read) leaves out empty rows above it.
        limit = door().max_rows["aggregated"]
        cells = found.to_python(skip_empty_area=False) if found.height <= limit else None
        if cells is None or len(cells) > limit:
            raise whole_file(landed.name, f"too large: more than {limit:,} rows", sheet=sheet)
        return cells
    except FileRejected:
        raise
    except BaseException as exc:
        # calamine raises its own errors for a broken workbook, and a panic of its Rust
        # code would arrive as a BaseException: either is this file's refusal
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise FileRejected(landed.name, [Problem(landed.name, None, "(whole file)", "",
                                                 f"not a readable XLSX workbook ({exc})")]) from None


def _xlsx_rows(landed: LandedFile, data: bytes, sheet: str,
               columns: dict[str, str]) -> tuple[list[tuple[int, dict]], dict[str, str]]:
    """(rows, header → column letter) of the form's sheet."""
    _check_inflated_size(landed, data)
    cells = [(i, [_cell_text(v) for v in row])
             for i, row in enumerate(_sheet_cells(landed, data, sheet), start=1)]
    # A title row may sit above the header: the header is the first row starting with the
    # contract's first column (縣市).
    first = next(iter(columns))
    for position, (number, values) in enumerate(cells):
        if values and values[0] == first:
            header, body_from = list(values), position + 1
            if not set(columns) <= set(header) and body_from < len(cells):
                # A two-row header with merged cells: a merged cell's value sits in its first
                # row, the other row holds the names under it.
                below = cells[body_from][1] + [""] * len(header)
                header = [b or h for h, b in zip(header, below)]
                body_from += 1
            while header and header[-1] == "":
                header.pop()
            body = [(n, v[: len(header)]) for n, v in cells[body_from:]]
            letters = {h: _column_letter(i) for i, h in enumerate(header, start=1) if h}
            return _rows_under(landed, header, body, columns, number, sheet), letters
    raise FileRejected(landed.name, [Problem(landed.name, None, first, "",
                                             f"no header row starting with {first} in sheet {sheet}",
                                             sheet)])


def _check_inflated_size(landed: LandedFile, data: bytes) -> None:
    """A workbook is a zip: refuse it before parsing when its parts inflate past the limit
    (a small file can hold a sheet of millions of cells)."""
    limit = door().max_xlsx_inflated_bytes
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            inflated = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise whole_file(landed.name, f"not a readable XLSX workbook ({exc})") from None
    if inflated > limit:
        raise whole_file(landed.name, f"too large: the workbook unpacks to {inflated:,} bytes, "
                                      f"the limit is {limit:,}")


def read_county_submission(landed: LandedFile, data: bytes, partition: str) -> list[dict]:
    """A form: one data row per file, as CSV or as the registry's sheet of a workbook, for
    the sender and period of the file name (a county submission)."""
    contract = door().family(landed.family)
    columns, header_of = contract.by_header, contract.header_of
    is_xlsx = landed.fields["ext"] == "xlsx"
    sheet = contract.sheet if is_xlsx else None
    rows, letters = (_xlsx_rows(landed, data, contract.sheet, columns) if is_xlsx
                     else (_csv_rows(landed, data, columns), {}))
    r = RowReader(landed, sheet, letters)
    if len(rows) != 1:
        r.fail(rows[1][0], "(row)", "", "a county submission has exactly one data row")
    county_col, = contract.of_type("county")
    year_col, = contract.of_type("roc_year")
    quarter_col, = contract.of_type("quarter")
    out = []
    for number, row in rows[:1]:
        _blank_required(r, contract, number, row)
        code = r.parse(resolve_county, number, header_of[county_col], row[county_col])
        if code and code != landed.fields[contract.sender_field]:
            r.fail(number, header_of[county_col], row[county_col],
                   f"county disagrees with the file name ({landed.fields[contract.sender_field]})")
        year = r.parse(parse_count, number, header_of[year_col], row[year_col])
        quarter = r.parse(parse_count, number, header_of[quarter_col], row[quarter_col])
        for col, said, named in ((year_col, year, "roc"), (quarter_col, quarter, "q")):
            if said is not None and said != int(landed.fields[named]):
                r.fail(number, header_of[col], row[col], "period disagrees with the file name")
        record = {"source_row": number, "county_code": code, "year": (year or 0) + 1911,
                  "quarter": quarter, "no_data": []}
        for col in contract.of_type("count"):
            record[col], note = _count(r, number, header_of[col], row[col],
                                       col in contract.non_negative)
            if note:
                record["no_data"].append(col)
        for rule in contract.within_row:
            limit = record[rule.at_most]
            if None not in (record[rule.column], limit) and record[rule.column] > limit * rule.times:
                times = f" × {rule.times:,}" if rule.times != 1 else ""
                r.fail(number, header_of[rule.column], row[rule.column],
                       f"{header_of[rule.column]} cannot exceed {header_of[rule.at_most]}{times} "
                       f"({limit * rule.times:,} on this row)")
        for col in contract.of_type("date"):
            record[col] = r.parse(parse_date, number, header_of[col], row[col])
        out.append(record)
    r.raise_if_any()
    return out
