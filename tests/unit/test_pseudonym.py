import duckdb

from dagster_project.lib.pseudonym import SQL_EXPRESSION, load_key, pseudonym, sql_pads


def test_sql_hmac_equals_python_hmac():
    key = b"some key"
    inner, outer = sql_pads(key)
    con = duckdb.connect()
    got = con.execute("select " + SQL_EXPRESSION.format(col="'A123456789'"),
                      {"inner_pad": inner, "outer_pad": outer}).fetchall()[0][0]
    assert got == pseudonym(key, "A123456789")
    assert got != pseudonym(b"another key", "A123456789")


def test_key_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TSDG_PSEUDONYM_KEY", "from-env")
    assert load_key(tmp_path / "k") == b"from-env"
    assert not (tmp_path / "k").exists()


def test_key_file_is_created_once_and_reused(monkeypatch, tmp_path):
    monkeypatch.delenv("TSDG_PSEUDONYM_KEY")
    first = load_key(tmp_path / "dir" / "key")
    assert len(first) == 64
    assert load_key(tmp_path / "dir" / "key") == first
    assert oct((tmp_path / "dir" / "key").stat().st_mode)[-3:] == "600"
