"""Scan everything a run wrote for the national IDs of the sources.

A leak is an ID-shaped, checksum-valid token that is one of the IDs of the sources; case
numbers and compressed pages can look like IDs by chance, so shape alone is not enough.
Raw bytes of every file are scanned, and every text column of every DuckDB and Parquet
file is queried (both may compress strings: a byte scan alone would miss an ID there).
"""

import contextlib
import re
from pathlib import Path

import duckdb

from dagster_project.ingest.files import decode
from dagster_project.lib.national_id import is_valid

ID_BYTES = re.compile(rb"[A-Za-z][1289][0-9]{8}")
PERSON_LEVEL = ("training_rosters", "employment_services")


def source_ids(sources: Path) -> set[str]:
    """Every valid ID in the person-level files of a landing area."""
    found = set()
    for folder in PERSON_LEVEL:
        for path in (sources / folder).iterdir():
            if path.is_file() and not path.is_symlink():
                data = path.read_bytes()
                with contextlib.suppress(ValueError):
                    data = decode(path, data).encode()
                found |= {m.decode().upper() for m in ID_BYTES.findall(data)}
    return {i for i in found if is_valid(i)}


def _tokens_in_duckdb(path: Path) -> set[str]:
    tokens = set()
    with duckdb.connect(str(path), read_only=True) as con:
        columns = con.sql("""select table_catalog, table_schema, table_name, column_name
                             from information_schema.columns
                             where data_type like 'VARCHAR%' or data_type like 'STRUCT%'
                             or data_type like 'JSON%'""").fetchall()
        for catalog, schema, table, column in columns:
            rows = con.sql(f"""select distinct unnest(regexp_extract_all(
                                   upper(cast("{column}" as varchar)), '[A-Z][1289][0-9]{{8}}'))
                               from "{catalog}"."{schema}"."{table}" """).fetchall()
            tokens |= {r[0] for r in rows}
    return tokens


def tokens_in_parquet(con: duckdb.DuckDBPyConnection, path: Path) -> set[str]:
    """One query per file over all its text columns, on one connection for the whole scan
    (an in-memory DuckDB per file, and a query per column, cost ~30 ms a file: the lake
    has hundreds)."""
    source = f"read_parquet('{str(path).replace(chr(39), chr(39) * 2)}')"
    texts = [f'upper(cast("{column}" as varchar))'
             for column, kind, *_ in con.execute(f"describe select * from {source}").fetchall()
             if kind.startswith(("VARCHAR", "STRUCT", "JSON", "MAP"))]
    if not texts:
        return set()
    rows = con.execute(f"""select distinct unnest(regexp_extract_all(text, '[A-Z][1289][0-9]{{8}}'))
                           from (select unnest([{', '.join(texts)}]) as text from {source})
                        """).fetchall()
    return {r[0] for r in rows}


def leaks(root: Path, ids: set[str], is_exempt=lambda path: False) -> dict[str, set[str]]:
    """{file: leaked IDs} under `root` (links not followed); `is_exempt` skips the one
    place raw IDs may rest (quarantined originals)."""
    found: dict[str, set[str]] = {}
    with duckdb.connect() as parquet_reader:
        for path in sorted(root.rglob("*")):
            if path.is_symlink() or not path.is_file() or is_exempt(path):
                continue
            data = path.read_bytes()
            tokens = {m.decode().upper() for m in ID_BYTES.findall(data)}
            if path.suffix == ".duckdb":
                tokens |= _tokens_in_duckdb(path)
            elif path.suffix == ".parquet":
                tokens |= tokens_in_parquet(parquet_reader, path)
            hit = tokens & ids
            if hit:
                found[str(path.relative_to(root))] = hit
    return found


def is_quarantined_original(path: Path) -> bool:
    """quarantine/<run>/<file> that is not one of its reports."""
    return (path.parent.parent.name == "quarantine"
            and not path.name.endswith((".report.json", ".report.txt")))
