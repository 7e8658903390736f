"""Quarantine reports are the durable record of refused files: what a warehouse lacks of
them is restored, once each, and nothing it has already is touched."""

import json

import duckdb

from dagster_project.ingest.lifecycle import quarantine_record, restore_quarantine_records
from dagster_project.ingest.load import ensure_raw_tables


def _report(quarantine_dir, run, name, record):
    folder = quarantine_dir / run
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.report.json").write_text(json.dumps({"record": record}), "utf-8")


def test_what_the_warehouse_lacks_of_the_reports_is_restored_once(tmp_path):
    landing = tmp_path / "landing" / "county_submissions"
    landing.mkdir(parents=True)
    files = {}
    for name in ("63000_113Q2.csv", "64000_113Q2.csv", "pipe"):
        (landing / name).write_text("縣市\n", encoding="utf-8")
        files[name] = (landing / name)
    known = quarantine_record("county_submissions", files["63000_113Q2.csv"], "a" * 64, 7,
                              None, "exactly one data row", "run-1")
    lost = quarantine_record("county_submissions", files["64000_113Q2.csv"], "b" * 64, 7,
                             None, "exactly one data row", "run-2")
    unread = quarantine_record("county_submissions", files["pipe"], None, 0, None,
                               "a named pipe", "run-2")  # moved aside unread: no digest
    quarantine = tmp_path / "quarantine"
    _report(quarantine, "run-1", "63000_113Q2.csv", known)
    _report(quarantine, "run-2", "64000_113Q2.csv", lost)
    _report(quarantine, "run-3", "64000_113Q2.csv", lost)  # the same record twice
    _report(quarantine, "run-2", "pipe", unread)
    with duckdb.connect() as con:
        ensure_raw_tables(con)
        assert restore_quarantine_records(con, tmp_path / "nothing") == 0
        con.execute("insert into raw.landed_files by name select ? as family, ? as file_name, "
                    "? as file_sha256, ? as run_id, 'quarantined' as state",
                    [known["family"], known["file_name"], known["file_sha256"], known["run_id"]])
        assert restore_quarantine_records(con, quarantine, "training_rosters") == 0  # not its
        assert restore_quarantine_records(con, quarantine) == 2
        rows = con.execute("""select file_name, file_sha256, run_id, state, state_reason
                              from raw.landed_files order by file_name""").fetchall()
        assert rows == [("63000_113Q2.csv", "a" * 64, "run-1", "quarantined", None),
                        ("64000_113Q2.csv", "b" * 64, "run-2", "quarantined",
                         "exactly one data row"),
                        ("pipe", None, "run-2", "quarantined", "a named pipe")]
        assert restore_quarantine_records(con, quarantine) == 0  # all there now
    with duckdb.connect() as con:  # a family's own, into a workspace that has none of them
        ensure_raw_tables(con)
        assert restore_quarantine_records(con, quarantine, "county_submissions") == 3
