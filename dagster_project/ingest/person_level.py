"""Person-level files (rosters, employment-service records) through DuckDB.

Each file's bytes (UTF-8, or transcoded from Big5/CP950) are read by DuckDB's CSV reader
from memory, and DuckDB numbers the rows: Python only checks the header and finds the rare
blank line, without a pass over every line. A quarter's files, or several quarters'
(load.load_partitions), go through the checks and into the raw table in one pass (their
bytes bounded in load.py), or one by one when any of them fails. Dates and
county names are normalised once per distinct value: dates written in a plain shape in SQL
(lib/roc_dates.sql_dates), the others and county names with the Python parsers every family
uses; IDs are checked and replaced by an HMAC pseudonym in SQL. All of it happens in a
DuckDB of its own, in memory and unable to spill, whose freed memory is overwritten
(_door_database): raw IDs exist only there, never in a database that writes a file.
"""

import contextlib
import csv
import io
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import duckdb
from fsspec.implementations.memory import MemoryFileSystem

from dagster_project.config import INGEST_MEMORY_LIMIT
from dagster_project.ingest.files import BadFile, LandedFile, as_utf8
from dagster_project.ingest.problems import FileRejected, FilesRejected, Problem, whole_file
from dagster_project.lib.counties import UnknownCounty, resolve_county
from dagster_project.lib.freed_memory import scrubbed
from dagster_project.lib.national_id import SQL_MACRO
from dagster_project.lib.pseudonym import SQL_EXPRESSION
from dagster_project.lib.reference import branches
from dagster_project.lib.roc_dates import InvalidDate, parse_date, sql_dates
from dagster_project.lib.source_contract import Family, door


@dataclass(frozen=True)
class PersonFamily:
    table: str
    columns: dict[str, str]  # header → canonical name
    date_columns: tuple[str, ...]  # canonical names
    required: tuple[str, ...]
    allowed: dict[str, tuple[str, ...]]  # canonical → allowed values (blank allowed if "")
    select: str  # canonical columns for the raw table, SQL over the normalised source


# How each family's checked columns become its raw table (types the raw DDL below holds);
# which columns exist and what they may hold is the registry's.
SELECTS = {
    "training_rosters": """branch_code, course_id, programme, is_ict = 'Y' as is_ict, person_key,
              birth_date, sex, trainee_status, target_groups, county_code, start_date,
              end_date, status, nullif(employed_within_3m, '') as employed_within_3m""",
    "employment_services": """branch_code, case_id, person_key, birth_date, county_code,
              target_groups, registration_date, placement_date, nullif(stable_3m, '') as stable_3m""",
}


def family(contract: Family) -> PersonFamily:
    """The reader's view of a person-level family's contract."""
    return PersonFamily(
        table=contract.raw_table, columns=contract.by_header,
        date_columns=contract.of_type("date"),
        required=tuple(c.name for c in contract.columns if c.required),
        allowed={c.name: c.allowed for c in contract.columns if c.allowed is not None},
        select=SELECTS[contract.name])


RAW_DDL = {
    "raw.training_rosters": """
        branch_code varchar, course_id varchar, programme varchar, is_ict boolean,
        person_key varchar, birth_date date, sex varchar, trainee_status varchar,
        target_groups varchar[], county_code varchar, start_date date, end_date date,
        status varchar, employed_within_3m varchar""",
    "raw.employment_services": """
        branch_code varchar, case_id varchar, person_key varchar, birth_date date,
        county_code varchar, target_groups varchar[], registration_date date,
        placement_date date, stable_3m varchar""",
}


# A line that holds nothing but spaces and commas: skipped, but counted, so the rows after
# it keep the numbers a text editor shows. (Such a line inside a quoted value that spans
# lines would be taken for one and shift the numbers after it; accepted as rare.)
_BLANK = re.compile(rb"^[ ,]*\r?$", re.MULTILINE)
_BLANK_CONTENT = re.compile(rb"^[ ,]+(?=\r?$)", re.MULTILINE)
_BLANK_START = re.compile(rb"\n[\n\r ,]")


@dataclass(frozen=True)
class Numbering:
    """How the rows DuckDB reads from a file map to the file's lines (header = line 1)."""
    header: list[str]  # canonical column names, in the file's order
    blank_lines: list[int]  # lines skipped as blank, in order
    quoted: bool  # a quoted value may span lines
    lines: int  # lines in the file, the header's included


def prepared(landed: LandedFile, data: bytes, family: PersonFamily) -> tuple[bytes, Numbering]:
    """The file's bytes as DuckDB will read them (UTF-8, LF or CRLF line ends, blank lines
    empty) and how to number its rows, after the whole-file rules: size and header. Bytes
    in, bytes out, nothing per line in Python: DuckDB reads and numbers the rows."""
    try:
        payload = as_utf8(landed.path, data)
    except BadFile as exc:
        raise whole_file(landed.name, str(exc)) from None
    if b"\n" not in payload:
        payload = payload.replace(b"\r", b"\n")  # old Mac line ends
    limits = door()
    lines = payload.count(b"\n") + (not payload.endswith(b"\n"))
    if lines - 1 > limits.max_rows["person_level"]:
        raise whole_file(landed.name, f"too large: more than {limits.max_rows['person_level']:,} "
                                      "data rows (split the file or ask the warehouse team)")
    first = payload.find(b"\n")
    header = [h.strip().lstrip("\ufeff")
              for h in payload[:first if first >= 0 else None].decode().split(",")]
    missing = [h for h in family.columns if h not in header]
    unknown = [h for h in header if h not in family.columns]
    if missing or unknown:
        # Unexpected names are quoted only when the line is clearly a header (every contract
        # column present): a file without its header would otherwise quote a person's row.
        extra = (f"unexpected {unknown}" if not missing
                 else f"{len(unknown)} unrecognised cell(s), not quoted")
        raise FileRejected(landed.name, [Problem(
            landed.name, 1, ", ".join(missing) or "(header)", "",
            f"header must be exactly the columns of the contract; "
            f"missing {missing or 'none'}, {extra}", quoted=False)])
    blank_lines: list[int] = []
    # One search for a line break followed by what a blank line starts with (0.6 ms a MB)
    # is much cheaper than the pattern, which runs only when that is found.
    if _BLANK_START.search(payload):
        line, position, emptied = 1, 0, False
        for match in _BLANK.finditer(payload):
            line += payload.count(b"\n", position, match.start())
            position = match.start()
            if line > 1 and match.start() < len(payload):
                blank_lines.append(line)
                emptied |= payload[match.start():match.start() + 1] in (b" ", b",")
        if emptied:  # DuckDB skips empty lines; a line of commas would be a row
            payload = _BLANK_CONTENT.sub(b"", payload)
    numbering = Numbering([family.columns[h] for h in header], blank_lines, b'"' in payload,
                          lines)
    return payload, numbering


def _line_numbers(numbering: Numbering, first: int, breaks: bool) -> tuple[str, str]:
    """(SQL over the rows of `one` giving each row's line, the joins it needs). Row k (its
    rowid less the first's, `first`: rowids follow the file's order, from a base that
    differs inside a transaction) starts on line k + 2, plus the line breaks inside quoted values
    before it, plus the blank lines before it. A blank line found at line b_j, the j-th
    (from 0), lies before every row numbered b_j - j or more without blanks."""
    line = f"(one.rowid - {first} + 2)"
    if breaks:
        text = "replace(replace(concat_ws('', " + ", ".join(
            f"one.{c}" for c in numbering.header) + "), chr(13) || chr(10), chr(10)), chr(13), chr(10))"
        count = f"(length({text}) - length(replace({text}, chr(10), '')))"
        line = (f"({line} + coalesce(sum({count}) over (order by one.rowid rows between "
                "unbounded preceding and 1 preceding), 0))")
    if not numbering.blank_lines:
        return line, "from one"
    before = [b - j for j, b in enumerate(numbering.blank_lines)]
    counts = list(range(1, len(before) + 1))
    return ("(numbered.line + coalesce(blank.n, 0))",
            f"""from (select *, {line} as line from one) as numbered
                asof left join (select starts, max(n) as n from (select unnest({before}::int[]) as starts,
                                unnest({counts}::int[]) as n) group by starts) as blank
                on numbered.line >= blank.starts""")


def _unreadable_row(landed: LandedFile, text: str) -> Problem:
    """Where DuckDB's strict reader gave up: the first row Python's csv module cannot split
    into as many fields as the header (an unbalanced quote, a stray comma). The row's
    content is never quoted: it describes a person."""
    reader = csv.reader(io.StringIO(text))
    try:
        width = len(next(reader))
        for row in reader:
            if row and len(row) != width:
                return Problem(landed.name, reader.line_num, "(row)", "",
                               f"row has {len(row)} fields, the header {width} "
                               "(check quoting and commas)", quoted=False)
    except csv.Error as exc:
        return Problem(landed.name, reader.line_num, "(row)", "",
                       f"not a readable CSV row ({exc})", quoted=False)
    return Problem(landed.name, None, "(whole file)", "",
                   "not a readable CSV (check quoting and commas)", quoted=False)


def _map_table(con, name: str, rows: list[tuple], value_type: str) -> None:
    """A temp table (raw, value, problem) from Python tuples, passed as three lists: a
    DataFrame round trip cost more than parsing the values did."""
    raw, value, problem = (list(c) for c in zip(*rows)) if rows else ([], [], [])
    con.execute(f"""create or replace temp table {name} as select unnest($raw)::varchar as raw,
                    unnest($value)::{value_type} as value, unnest($problem)::varchar as problem""",
                {"raw": raw, "value": value, "problem": problem})


def _value_maps(con, family: PersonFamily) -> None:
    """Each distinct date and county spelling normalised once: dates written in a plain
    shape in SQL, the rest (and every county name) with the parsers every family uses."""
    con.execute(f"""create or replace temp table distinct_dates as
                    select distinct v as raw from (select unnest([{', '.join(family.date_columns)}]) v
                    from src) where v is not null""")
    con.execute(f"""create or replace temp table date_map as
                    select raw, value, null::varchar as problem
                    from ({sql_dates("select raw from distinct_dates")})""")
    rest = con.sql("select raw from distinct_dates anti join date_map using (raw)").fetchall()
    parsed = []
    for (raw,) in rest:
        try:
            parsed.append((raw, parse_date(raw), None))
        except InvalidDate as exc:
            parsed.append((raw, None, str(exc)))
    _map_table(con, "parsed_dates", parsed, "date")
    con.execute("insert into date_map select * from parsed_dates")
    con.execute("drop table distinct_dates; drop table parsed_dates")
    names = con.sql("select distinct county from src where county is not null").fetchall()
    resolved = []
    for (raw,) in names:
        try:
            resolved.append((raw, resolve_county(raw), None))
        except UnknownCounty as exc:
            resolved.append((raw, None, str(exc)))
    _map_table(con, "county_map", resolved, "varchar")


def _checks(family: PersonFamily) -> str:
    """Every row-level rule of the door over src, as one query of (file_index, source_row,
    column, value, rule, check index): for the rows of one file or of several (each row
    knows its file's branch)."""
    branch_codes = [b["branch_code"] for b in branches()]
    # The macro names its argument a dozen times and DuckDB expands it each time: the ID
    # is normalised once, in a subquery (9 times faster on a million rows).
    checks = ["""select file_index, source_row, 'national_id', national_id,
                  'not a valid national ID or resident certificate number (checksum, DOMAIN.md §4)'
                  from (select file_index, source_row, national_id,
                               upper(trim(national_id)) as normalised from src)
                  where trim(coalesce(national_id, '')) <> ''
                  and not tw_id_is_valid(normalised)"""]
    for col in family.required:
        checks.append(f"select file_index, source_row, '{col}', '', 'required value is blank' "
                      f"from src where {col} is null or trim({col}) = ''")
    for col in family.date_columns:
        checks.append(f"""select file_index, source_row, '{col}', {col}, problem from src
                          join date_map on src.{col} = date_map.raw where problem is not null""")
    checks.append("""select file_index, source_row, 'county', county, problem from src
                     join county_map on src.county = county_map.raw where problem is not null""")
    for col, values in family.allowed.items():
        quoted = ", ".join(f"'{v}'" for v in values)
        checks.append(f"select file_index, source_row, '{col}', {col}, 'must be one of: {' / '.join(v or '(blank)' for v in values)}' "
                      f"from src where coalesce(trim({col}), '') not in ({quoted})")
    checks.append(f"""select file_index, source_row, 'branch_code', branch_code,
                      'must be the branch of the file name (' || file_branch || ')'
                      from src where branch_code <> file_branch
                      or branch_code not in ({', '.join(f"'{b}'" for b in branch_codes)})""")
    groups = door().target_groups
    checks.append(f"""select file_index, source_row, 'target_groups', g, 'unknown target group; allowed: {'、'.join(groups)}'
                      from (select file_index, source_row, unnest(string_split(replace(coalesce(target_groups, ''), ';', '、'), '、')) g from src)
                      where trim(g) <> '' and trim(g) not in ({', '.join(f"'{t}'" for t in groups)})""")
    longest = door().max_field_chars
    for col in family.columns.values():
        checks.append(f"select file_index, source_row, '{col}', '', 'longer than {longest} characters' "
                      f"from src where length({col}) > {longest}")
    return " union all ".join(f"(select *, {i} from ({c}))" for i, c in enumerate(checks))


def _problems(con, files: list[LandedFile], family: PersonFamily) -> list[FileRejected]:
    """A FileRejected for each file in src that breaks a rule, in file order: its first 50
    problems (by row, then in the order of the checks) and how many there are in all."""
    header_of = {v: k for k, v in family.columns.items()}
    found = con.execute(f"""select file_index, source_row, col, value, rule,
                                   count(*) over (partition by file_index)
                            from ({_checks(family)}) as p(file_index, source_row, col, value,
                                                          rule, check_index)
                            qualify row_number() over (partition by file_index
                                                       order by source_row, check_index) <= 50
                            order by file_index, source_row, check_index""").fetchall()
    by_file: dict[int, list] = {}
    for row in found:
        by_file.setdefault(row[0], []).append(row)
    rejections = []
    for i, rows in by_file.items():
        landed = files[i]
        quotable = door().quotable(landed.family)
        # Only values of quotable columns (the course, the office) ever reach a message.
        problems = [Problem(landed.name, int(row), header_of.get(col, col),
                            (value or "") if col in quotable else "", rule,
                            quoted=col in quotable)
                    for _, row, col, value, rule, _ in rows]
        rejections.append(FileRejected(landed.name, problems, rows[0][-1]))
    return rejections


def _normalised(family: PersonFamily) -> str:
    """The source with dates, counties, groups and the pseudonym in canonical form."""
    joins, cols = [], []
    for col in family.date_columns:
        joins.append(f"left join date_map d_{col} on src.{col} = d_{col}.raw")
        cols.append(f"d_{col}.value as {col}")
    plain = [c for c in family.columns.values()
             if c not in family.date_columns + ("national_id", "county", "target_groups")]
    cols += [f"trim(src.{c}) as {c}" for c in plain]
    cols += [
        "src.file_index",
        "source_row",
        SQL_EXPRESSION.format(col="upper(trim(src.national_id))") + " as person_key",
        "cm.value as county_code",
        """list_filter(list_transform(string_split(replace(coalesce(src.target_groups, ''), ';', '、'), '、'),
                       lambda g: trim(g)), lambda g: g <> '') as target_groups""",
    ]
    return (f"select {', '.join(cols)} from src left join county_map cm on src.county = cm.raw "
            + " ".join(joins))


class SeveralFiles(Exception):
    """A pass over several files met a problem: load them one by one, to name the file."""


def _read_into_src(con, files: list[tuple[LandedFile, bytes]], family: PersonFamily) -> None:
    """src: every data row of `files`, numbered by its line, with its file's index and the
    branch its file name gives. The rows are in a temp table (src_rows), so the checks do
    not parse the CSV again; a file without blank lines or quotes (nearly all) is read
    straight into it and its rows numbered by their rowids, which follow the file's order
    (a copy through a table of its own, for the others, cost a third more at scale 10)."""
    columns = ", ".join(f"{c} varchar" for c in family.columns.values())
    con.execute(f"""create or replace temp table src_rows (file_index int, file_branch varchar,
                    source_row int, {columns})""")
    for i, (landed, data) in enumerate(files):
        payload, numbering = prepared(landed, data, family)
        # The dialect and columns are the contract's (RFC 4180, all text): given, not
        # sniffed, which costs more than reading a small file does.
        types = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in numbering.header) + "}"
        try:
            with _in_memory(con, payload) as path:
                reader = f"""read_csv('{path}', header = true, columns = {types},
                                      auto_detect = false, delim = ',', quote = '"',
                                      escape = '"', strict_mode = true, null_padding = false)"""
                if numbering.blank_lines or numbering.quoted:
                    _insert_numbered(con, i, landed, reader, numbering)
                else:
                    con.execute(f"""insert into src_rows by name select {i} as file_index,
                                    $branch as file_branch, * from {reader}""",
                                {"branch": landed.fields["branch"]})
        except duckdb.Error:
            raise FileRejected(landed.name, [_unreadable_row(landed, payload.decode())]) from None
    firsts = dict(con.execute("select file_index, min(rowid) from src_rows group by all").fetchall())
    for i, (landed, _) in enumerate(files):
        if i not in firsts:
            raise whole_file(landed.name, "file has no data rows")
    # Inside a transaction rowids start from a large base: numbers relative to the first.
    starts = ", ".join(str(firsts[i]) for i in range(len(files)))
    con.execute(f"""create or replace temp view src as
                    select * exclude (source_row), coalesce(source_row,
                           (rowid - [{starts}][file_index + 1] + 2)::int) as source_row
                    from src_rows""")


def _insert_numbered(con, i: int, landed: LandedFile, reader: str, numbering: Numbering) -> None:
    """A file with blank lines or quotes: read into a table of its own (its rowids follow
    the file's order), then into src_rows with each row's line worked out in SQL."""
    con.execute(f"create or replace temp table one as select * from {reader}")
    first, rows = con.execute("select min(rowid), count(*) from one").fetchone()
    # Fewer rows than the lines that are not blank: some quoted value spans lines.
    breaks = rows < numbering.lines - 1 - len(numbering.blank_lines)
    line, source = _line_numbers(numbering, first or 0, breaks)
    con.execute(f"""insert into src_rows by name
                    select {i} as file_index, $branch as file_branch, {line} as source_row,
                           {', '.join(numbering.header)} {source}""",
                {"branch": landed.fields["branch"]})
    con.execute("drop table one")


# Where DuckDB reads a file's bytes from: this process's memory (fsspec's in-memory file
# system), never a temporary file: the rows hold national IDs until they are pseudonymised.
_MEMORY = MemoryFileSystem()


@contextlib.contextmanager
def _in_memory(con, payload: bytes):
    """A path DuckDB reads `payload` at, for the block only."""
    if "memory" not in con.list_filesystems():
        con.register_filesystem(_MEMORY)
    path = f"/tsdg-ingest/{os.getpid()}-{uuid.uuid4().hex}.csv"
    _MEMORY.pipe_file(path, payload)  # shares the bytes, no copy
    try:
        yield f"memory://{path}"
    finally:
        _MEMORY.rm(path)


def load_files(con: duckdb.DuckDBPyConnection, files: list[tuple[LandedFile, bytes, str, str]],
               family: PersonFamily, pads: tuple[bytes, bytes]) -> list[int]:
    """Validate files (landed, bytes, sha256, partition) and append their rows to the raw
    table, all or nothing: rows per file, in order. One file: a problem raises its
    FileRejected, naming row and column. Several (a partition's or several quarters' files
    in one pass, so the fixed cost of the checks is paid once): FilesRejected names every
    file that breaks a rule (or FileRejected the file that could not be read); any other
    failure raises SeveralFiles, and the caller loads them one by one."""
    if len(files) == 1:
        return _load(con, files, family, pads)
    try:
        return _load(con, files, family, pads)
    except (FileRejected, FilesRejected):
        raise
    except Exception:
        raise SeveralFiles() from None


@contextlib.contextmanager
def _door_database() -> Iterator[duckdb.DuckDBPyConnection]:
    """The one DuckDB that ever holds raw IDs: in memory, with nowhere to spill (a spilled
    block is a file), closed after each pass. Only pseudonymised rows leave it, as Arrow,
    into the caller's database, whose buffers never held a raw ID and, the memory this one
    frees being overwritten (lib/freed_memory), cannot inherit one."""
    with scrubbed():
        door_con = duckdb.connect(":memory:", config={"memory_limit": INGEST_MEMORY_LIMIT,
                                                      "temp_directory": ""})
        try:
            yield door_con
        finally:
            door_con.close()


def _load(con, files: list[tuple[LandedFile, bytes, str, str]], family: PersonFamily,
          pads: tuple[bytes, bytes]) -> list[int]:
    with _door_database() as door_con:
        _read_into_src(door_con, [(landed, data) for landed, data, _, _ in files], family)
        door_con.execute(SQL_MACRO)
        _value_maps(door_con, family)
        rejections = _problems(door_con, [landed for landed, _, _, _ in files], family)
        if len(files) == 1 and rejections:
            raise rejections[0]
        if rejections:
            raise FilesRejected(rejections)
        inner, outer = pads
        door_rows = door_con.sql(
            f"""select f.partition_key, f.file, f.sha, source_row, {family.select}
                from ({_normalised(family)}) as n
                join (select unnest($indexes) as file_index, unnest($paths) as file,
                             unnest($shas) as sha, unnest($partitions) as partition_key) as f
                using (file_index)""",
            params={"indexes": list(range(len(files))),
                    "paths": [str(landed.path) for landed, _, _, _ in files],
                    "shas": [sha for _, _, sha, _ in files],
                    "partitions": [partition for _, _, _, partition in files],
                    "inner_pad": inner, "outer_pad": outer}).to_arrow_reader()
        con.register("door_rows", door_rows)
        try:
            con.execute(f"insert into {family.table} select * from door_rows")
        finally:
            con.unregister("door_rows")
        counts = dict(door_con.execute("select file_index, count(*) from src group by all").fetchall())
        return [counts.get(i, 0) for i in range(len(files))]
