import random

import duckdb
import pytest

from dagster_project.lib.national_id import SQL_MACRO, is_valid, with_check_digit


@pytest.mark.parametrize("nid", ["A123456789", "F234567898"])
def test_valid_examples(nid):
    assert is_valid(nid)


@pytest.mark.parametrize("nid", ["A123456788", "A323456789", "a123456789", "A12345678", "", "1234567890"])
def test_invalid_examples(nid):
    assert not is_valid(nid)


def test_resident_certificate_numbers_since_2021():
    nid = with_check_digit("A", "80000001")
    assert is_valid(nid) and nid[1] == "8"


def test_sql_macro_agrees_with_python_on_random_numbers():
    rng = random.Random(7)
    samples = [f"{rng.choice('ABCDEFGHIJKLMNOPQRSTUVWXYZ')}{rng.choice('1289')}{rng.randrange(10**8):08d}"
               for _ in range(3000)]
    samples += ["A123456789", "F234567898", "A123456788", None, "bad"]
    con = duckdb.connect()
    con.execute(SQL_MACRO)
    con.execute("create table ids (x varchar)")
    con.executemany("insert into ids values (?)", [[s] for s in samples])
    sql = dict(con.sql("select x, tw_id_is_valid(x) from ids").fetchall())
    assert sum(sql.values()) > 100  # the sample holds valid numbers too
    for s in samples:
        assert sql[s] == is_valid(s), s
