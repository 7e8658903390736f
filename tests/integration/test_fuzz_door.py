"""Structure-aware fuzzing of the door: a real file of every family (and both county
dialects), mutated in the ways careless or hostile senders do, goes through the same
per-partition loader the ingest asset uses. Whatever the mutation, the file ends in exactly
one verdict — loaded, or quarantined with a report — no exception escapes, and no message
about a person-level file carries an ID or a row of it."""

import io
import random
import shutil
import tempfile
from pathlib import Path

import duckdb
import pytest
from leak_scan import ID_BYTES
from openpyxl import load_workbook

from dagster_project.ingest.files import classify, decode, landed_files
from dagster_project.ingest.load import ensure_raw_tables, load_partition

ODD_NUMBERS = ["-1", "1e9", "1.5", "１２", "9" * 40, "NaN", "0x10", " ", "--5"]
ODD_DATES = ["113/02/30", "0000-00-00", "99999999", "民國年月日", "2024-13-01", "1/1"]


def _lines(data: bytes) -> list[str]:
    return data.decode("utf-8-sig", errors="replace").splitlines()


def _join(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8")


def _cell_edit(data: bytes, rng: random.Random, values: list[str]) -> bytes:
    lines = _lines(data)
    if len(lines) < 2:
        return data
    row = rng.randrange(1, len(lines))
    cells = lines[row].split(",")
    cells[rng.randrange(len(cells))] = rng.choice(values)
    lines[row] = ",".join(cells)
    return _join(lines)


def _columns(data: bytes, rng: random.Random, how: str) -> bytes:
    lines = [line.split(",") for line in _lines(data)]
    width = len(lines[0])
    i, j = rng.randrange(width), rng.randrange(width)
    for cells in lines:
        if how == "drop" and i < len(cells):
            del cells[i]
        elif how == "extra":
            cells.append("x")
        elif how == "swap" and max(i, j) < len(cells):
            cells[i], cells[j] = cells[j], cells[i]
    return _join([",".join(c) for c in lines])


def _flip(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if out:
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def _insert(data: bytes, rng: random.Random, piece: bytes) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + piece + data[at:]


CSV_MUTATIONS = {
    "bit flips": _flip,
    "truncated": lambda d, r: d[: r.randrange(len(d) + 1)],
    "junk appended": lambda d, r: d + r.randbytes(r.randint(1, 300)),
    "NUL byte": lambda d, r: _insert(d, r, b"\x00"),
    "UTF-16": lambda d, r: "\n".join(_lines(d)).encode("utf-16"),
    "GB18030": lambda d, r: "\n".join(_lines(d)).encode("gb18030", errors="replace"),
    "column dropped": lambda d, r: _columns(d, r, "drop"),
    "column added": lambda d, r: _columns(d, r, "extra"),
    "columns swapped": lambda d, r: _columns(d, r, "swap"),
    "odd number": lambda d, r: _cell_edit(d, r, ODD_NUMBERS),
    "odd date": lambda d, r: _cell_edit(d, r, ODD_DATES),
    "huge field": lambda d, r: _cell_edit(d, r, ["Ｘ" * 200_000]),
    "empty": lambda d, r: b"",
    "header only": lambda d, r: _join(_lines(d)[:1]),
    "mixed line ends": lambda d, r: d.replace(b"\n", r.choice([b"\r\n", b"\r", b"\n\n"]), 3),
    "rows repeated": lambda d, r: _join(_lines(d) + _lines(d)[1:]),
    "stray quote": lambda d, r: _insert(d, r, b'"'),
    "extra comma in a row": lambda d, r: _cell_edit(d, r, ["x,y"]),
}


def _xlsx_cell(data: bytes, rng: random.Random) -> bytes:
    wb = load_workbook(io.BytesIO(data))
    ws = wb.worksheets[0]
    row, col = rng.randint(1, ws.max_row + 1), rng.randint(1, ws.max_column + 1)
    ws.cell(row, col).value = rng.choice(ODD_NUMBERS + ODD_DATES + ["Ｘ" * 10_000, None])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


XLSX_MUTATIONS = {
    "bit flips": _flip,
    "truncated": lambda d, r: d[: r.randrange(len(d) + 1)],
    "junk appended": lambda d, r: d + r.randbytes(r.randint(1, 300)),
    "odd cell": _xlsx_cell,
    "empty": lambda d, r: b"",
}

SEEDS = {  # family → a file name pattern of the tiny sample to mutate
    "training_rosters": "roster_113Q2_*.csv",
    "employment_services": "pes_113Q2_*.csv",
    "labour_insurance": "bli_11305.csv",
    "programme_tallies": "tally_*_113.csv",
    "county_submissions": "6*_113Q2.csv",
    "county_xlsx": "*_113Q2.xlsx",
}


@pytest.fixture(scope="module")
def seeds(tiny_sample) -> dict[str, Path]:
    sources, _ = tiny_sample
    found = {}
    for key, pattern in SEEDS.items():
        family = "county_submissions" if key == "county_xlsx" else key
        found[key] = sorted((sources / family).glob(pattern))[0]
    return found


CASES = [(key, m) for key in SEEDS if key != "county_xlsx" for m in CSV_MUTATIONS] + [
    ("county_xlsx", m) for m in XLSX_MUTATIONS]
ROUNDS = 3  # seeds per family × mutation class


@pytest.mark.parametrize("case", CASES, ids=[f"{k}-{m}" for k, m in CASES])
def test_a_mutated_file_gets_exactly_one_verdict_and_no_personal_data(case, seeds):
    for seed in range(ROUNDS):
        _check_one(case, seed, seeds)


def _check_one(case, seed, seeds):
    key, mutation = case
    source = seeds[key]
    family = source.parent.name
    mutate = (XLSX_MUTATIONS if key == "county_xlsx" else CSV_MUTATIONS)[mutation]
    original = source.read_bytes()
    data = mutate(original, random.Random(seed))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "landing" / family).mkdir(parents=True)
        path = tmp / "landing" / family / source.name
        path.write_bytes(data)
        landed = classify(family, path)
        with duckdb.connect() as con:
            ensure_raw_tables(con)
            load = load_partition(con, tmp / "landing", family, landed.partitions[0],
                                  tmp / "key", tmp / "q", "run-1", log=lambda m: None)
            states = [r[0] for r in con.sql("select state from raw.landed_files").fetchall()]
        loaded, refused = list(load.rows), [q.file for q in load.quarantined]
        assert sorted(loaded + refused) == [source.name], (mutation, loaded, refused)
        assert states == (["loaded"] if loaded else ["quarantined"])
        assert path.exists() == bool(loaded)
        assert not landed_files(tmp / "landing", family)[1]
        if family in ("training_rosters", "employment_services") and refused:
            said = load.quarantined[0].first_problem + "".join(
                p.read_text(encoding="utf-8") for p in (tmp / "q").rglob("*.report.*"))
            text = decode(source, original)
            ids = {m.decode() for m in ID_BYTES.findall(text.encode())}
            assert not [i for i in ids if i in said], mutation
            # Birth dates stand for every personal cell: none may be quoted.
            lines = text.splitlines()
            at = lines[0].lstrip("\ufeff").split(",").index("出生日期")
            births = {c[at] for c in (line.split(",") for line in lines[1:]) if len(c) > at}
            assert not [b for b in births if len(b) >= 6 and b in said], mutation


def test_the_fuzz_seeds_load_unmutated(seeds, tmp_path):
    """The fuzzing starts from good files: each loads as it is."""
    for key, source in seeds.items():
        family = source.parent.name
        landing = tmp_path / key / family
        landing.mkdir(parents=True)
        shutil.copy(source, landing / source.name)
        with duckdb.connect() as con:
            ensure_raw_tables(con)
            load = load_partition(con, tmp_path / key, family,
                                  classify(family, source).partitions[0], tmp_path / "key",
                                  tmp_path / "q", "run-1", log=lambda m: None)
        assert list(load.rows) == [source.name] and not load.quarantined, key
