"""`tsdg`: sample, refresh (or serve refreshes), query (DOMAIN.md §7); figures as of a
vintage; senders' letters."""

import argparse
import atexit
import csv
import os
import sys
import time
from pathlib import Path

# No telemetry from dbt, Dagster or GX (set before any of them is imported).
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


def _progress(message: str) -> None:
    print(f"[tsdg {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: at least 1")
    return value


def _latest(args):
    """(settings, the latest release) of --warehouse; the release is None, with the reason
    printed, when nothing was published yet."""
    from dagster_project.config import settings
    from dagster_project.publish.access import latest_release

    s = settings(None, args.warehouse)
    release = latest_release(s.releases_dir)
    if release is None:
        print(f"no release under {s.releases_dir}: run `tsdg refresh` first", file=sys.stderr)
    return s, release


def cmd_sample(args) -> int:
    from dagster_project.sample.generate import generate

    started = time.monotonic()
    manifest = generate(Path(args.out), scale=args.scale, seed=args.seed, progress=_progress)
    for family, rows in manifest["rows_per_family"].items():
        _progress(f"{family}: {rows} rows")
    _progress(f"sample written to {args.out} in {time.monotonic() - started:.1f} s")
    return 0


def cmd_refresh(args) -> int:
    if not args.no_serve:
        from dagster_project.refresh_server import run_served

        served = run_served(args.argv, _progress)
        if served is not None:
            return served
    from dagster_project.config import settings
    from dagster_project.dbt_manifest import ensure_manifest

    ensure_manifest()  # before the definitions load (they read it at import)
    from dagster_project.refresh import quarter_range, refresh

    s = settings(args.sources, args.warehouse)
    try:
        quarters = quarter_range(args.quarters) if args.quarters else None
    except ValueError as exc:
        print(f"refresh: {exc}", file=sys.stderr)
        return 2
    return refresh(s, progress=_progress, quarters=quarters, engine=args.engine,
                   workers=args.workers)


def cmd_serve(args) -> int:
    from dagster_project.refresh_server import serve

    return serve(_progress, idle_minutes=args.idle_minutes)


def cmd_query(args) -> int:
    import duckdb

    from dagster_project.publish import access
    from dagster_project.publish.access import RELEASE_DB

    _, release = _latest(args)
    if release is None:
        return 2
    written = 0
    with access.connect(release / RELEASE_DB) as con, access.time_limit(con, args.timeout) as late:
        try:
            access.check_reads_only(con, args.sql)
        except access.QueryRefused as exc:
            print(f"query refused: {exc}", file=sys.stderr)
            return 1
        try:
            result = con.execute(args.sql)
            writer = csv.writer(sys.stdout, lineterminator="\n")
            writer.writerow([d[0] for d in result.description])
            while written < args.max_rows and (
                    rows := result.fetchmany(min(10_000, args.max_rows - written))):
                writer.writerows(rows)
                written += len(rows)
            # (`result` is the connection itself: the `with` closes it, once.)
            more = bool(result.fetchmany(1)) if written >= args.max_rows else False
        except duckdb.PermissionException:
            print("query refused: a release query reads only the release's own tables "
                  "(no files, no other databases, no settings)", file=sys.stderr)
            return 1
        except duckdb.InterruptException:
            if late.is_set():
                print(f"query stopped after {args.timeout:g} s (raise with --timeout)",
                      file=sys.stderr)
                return 1
            raise
        except duckdb.Error as exc:
            print(f"query failed: {exc}", file=sys.stderr)
            return 1
    if more:
        print(f"output stopped at {args.max_rows:,} rows (raise with --max-rows)", file=sys.stderr)
    return 0


def cmd_figures(args) -> int:
    from dagster_project.config import settings
    from dagster_project.vintage_figures import figures_as_of

    try:
        figures_as_of(settings(None, args.warehouse), args.vintage_as_of, Path(args.out), _progress)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"figures: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_senders(args) -> int:
    from dagster_project.publish.access import RELEASE_DB
    from dagster_project.publish.senders import quarter_bounds, write_letters

    s, release = _latest(args)
    if release is None:
        return 2
    try:
        quarter_bounds(args.quarter)
    except ValueError:
        print(f"senders: --quarter must look like 2025Q3, not {args.quarter!r}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else s.warehouse_dir / "letters" / args.quarter.upper()
    written = write_letters(release / RELEASE_DB, release.name, args.quarter.upper(), out, args.sender)
    if not written:
        print(f"senders: no expected submission of {args.quarter} "
              f"{'from ' + args.sender if args.sender else ''} in release {release.name}",
              file=sys.stderr)
        return 1
    _progress(f"{len(written) // 2} status letter(s) for {args.quarter.upper()} in {out} "
              f"(print letters.html: one page per sender)")
    return 0


def cmd_indicator(args) -> int:
    from dagster_project.publish.indicator_card import UnknownIndicator, card

    _, release = _latest(args)
    if release is None:
        return 2
    try:
        sys.stdout.write(card(release, args.code, args.lang))
    except UnknownIndicator as exc:
        print(f"indicator: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_templates(args) -> int:
    from dagster_project.publish.templates import write_templates

    try:
        written = write_templates(args.quarter, Path(args.out), args.county)
    except ValueError as exc:
        print(f"templates: {exc}", file=sys.stderr)
        return 2
    print(f"{len(written)} template(s) for {args.quarter.upper()} in {args.out}"
          + (f", e.g. {written[0].name}" if written else ""))
    return 0 if written else 2


def cmd_revalidate(args) -> int:
    from datetime import UTC, datetime

    from dagster_project.config import settings
    from dagster_project.ingest.revalidate import apply, revalidate, write_report
    from dagster_project.lib.source_contract import ContractError, use_contract

    s = settings(args.sources, args.warehouse)
    if not s.working_database.exists():
        print(f"no warehouse at {s.working_database}: run `tsdg refresh` first", file=sys.stderr)
        return 2
    if args.apply and args.contract:
        print("revalidate: --apply acts on the contract in registry/sources.yml only; adopt "
              "the draft there first (a refresh reads that file)", file=sys.stderr)
        return 2
    try:
        if args.contract:
            use_contract(args.contract)
    except (ContractError, OSError, KeyError) as exc:
        print(f"revalidate: the contract {args.contract} cannot be used: {exc}", file=sys.stderr)
        return 2
    verdicts = revalidate(s, args.family, progress=_progress)
    out = Path(args.out) if args.out else (s.warehouse_dir / "revalidation" /
                                           f"revalidation-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.csv")
    write_report(verdicts, out)
    refuse = [v for v in verdicts if v.changed and v.state == "loaded"]
    accept = [v for v in verdicts if v.changed and v.state == "quarantined"]
    gone = [v for v in verdicts if v.now == "unavailable"]
    print(f"{len(verdicts)} file(s) checked against {args.contract or 'registry/sources.yml'}: "
          f"{len(refuse)} loaded file(s) would now be refused, {len(accept)} refused file(s) "
          f"would now be taken in, {len(gone)} could not be read again")
    for v in refuse:
        print(f"WOULD REFUSE {v.family}/{v.file_name} (vintage {v.vintage}, received "
              f"{v.received_at}, loaded {v.loaded_at}): {v.rule} — {v.rule_zh}")
    for v in accept:
        print(f"WOULD ACCEPT {v.family}/{v.file_name} (received {v.received_at}, refused "
              f"{v.loaded_at}: {v.before})"
              + (f" — not offered: {v.later} came after it from the same sender" if v.later else ""))
    print(f"report: {out}")
    if args.apply:
        ordered, returned, skipped = apply(s, verdicts)
        for v in ordered:
            print(f"ORDERED REFUSED {v.family}/{v.file_name}: the next `tsdg refresh` "
                  "quarantines it (received and loaded dates and vintage kept)")
        for v in returned:
            print(f"RETURNED {v.family}/{v.file_name} to the landing area: the next "
                  f"`tsdg refresh` loads it (received {v.received_at} kept)")
        for line in skipped:
            print(f"NOT RETURNED {line}")
    elif refuse or accept:
        print("nothing changes until `tsdg revalidate --apply` (with the contract adopted in "
              "registry/sources.yml)")
    return 0


def cmd_contract(args) -> int:
    from dagster_project.lib.contract_doc import markdown

    print(markdown())
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="tsdg", description="T-SDG labour indicator warehouse")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("sample", help="write calibrated synthetic sources")
    p.add_argument("--out", required=True)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=20250923)
    p.set_defaults(fn=cmd_sample)
    p = sub.add_parser(
        "refresh", help="ingest, build and publish (the Dagster definitions, in-process)",
        description="Ingest the new or changed landed files, build, validate and publish. With "
                    "no changed file and the latest release built from the same registry, "
                    "models, checks and code today, it says so and does nothing (exit 0).")
    p.add_argument("--sources")
    p.add_argument("--warehouse")
    p.add_argument("--quarters", metavar="2024Q1..2024Q2",
                   help="backfill: re-ingest exactly these quarters (one, or a range), then build and publish")
    p.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb",
                   help="where the dbt models run: DuckDB (default) or a local Spark session "
                        "over the lake (<warehouse>/lake/); the release is the same")
    p.add_argument("--workers", type=_positive, default=1, metavar="N",
                   help="run the job's steps as up to N processes at once (Dagster's "
                        "multiprocess executor): the families' ingest side by side. "
                        "Default 1: one process")
    p.add_argument("--no-serve", action="store_true",
                   help="refresh in this process even when `tsdg serve` is running")
    p.set_defaults(fn=cmd_refresh)
    p = sub.add_parser(
        "serve", help="keep a refresh warm: `tsdg refresh` forks from here, without its start-up",
        description="Import what a refresh imports, start its dbt and GX servers, and run "
                    "each `tsdg refresh` of this user (same code and environment) in a process "
                    "forked from this one: a resubmitted file is published seconds sooner. "
                    "Runs until Ctrl-C or SIGTERM; restarts itself when the code changes.")
    p.add_argument("--idle-minutes", type=float, metavar="M",
                   help="end after M minutes without a refresh (default: run until stopped)")
    p.set_defaults(fn=cmd_serve)
    p = sub.add_parser("query", help="read-only SQL on the latest release; prints CSV")
    p.add_argument("--warehouse")
    p.add_argument("--max-rows", type=int, default=1_000_000, help="stop after this many rows")
    p.add_argument("--timeout", type=float, default=300.0, help="stop after this many seconds")
    p.add_argument("sql")
    p.set_defaults(fn=cmd_query)
    p = sub.add_parser("figures", help="the indicators as of an earlier vintage of the submissions")
    p.add_argument("--warehouse")
    p.add_argument("--vintage-as-of", required=True,
                   help="an ISO time: use each submission's newest vintage loaded by then")
    p.add_argument("--out", required=True, help="folder for indicators.csv and vintages.json")
    p.set_defaults(fn=cmd_figures)
    p = sub.add_parser("indicator", help="one indicator from the latest release: definition, "
                                          "window, latest values, review line, revisions, files")
    p.add_argument("code", metavar="CODE", help="e.g. 8.5.3")
    p.add_argument("--lang", choices=("zh", "en"), default="zh")
    p.add_argument("--warehouse")
    p.set_defaults(fn=cmd_indicator)
    p = sub.add_parser("senders", help="status letters: what each sender sent for a quarter, "
                                        "what was refused and why, what is missing")
    p.add_argument("--quarter", required=True, metavar="2025Q3")
    p.add_argument("--sender", help="one sender: a county code, branch code or unit code")
    p.add_argument("--warehouse")
    p.add_argument("--out", help="folder for the letters (default <warehouse>/letters/<quarter>)")
    p.set_defaults(fn=cmd_senders)
    p = sub.add_parser("templates", help="a submission workbook per county for a quarter, "
                                          "generated from the contract (validation, instructions)")
    p.add_argument("--quarter", required=True, metavar="2025Q3")
    p.add_argument("--out", required=True, help="folder for the workbooks")
    p.add_argument("--county", help="one county code, e.g. 65000")
    p.set_defaults(fn=cmd_templates)
    p = sub.add_parser("revalidate", help="check every loaded and quarantined file against the "
                                           "contract as it is now (or a draft); loads nothing "
                                           "(--apply: the next refresh acts on the verdicts)")
    p.add_argument("--family", help="one family, e.g. county_submissions")
    p.add_argument("--contract", metavar="FILE", help="a draft of registry/sources.yml to try")
    p.add_argument("--apply", action="store_true",
                   help="act on the verdicts at the next refresh: quarantine the loaded files "
                        "that now fail, return the refused files that now pass to the landing area")
    p.add_argument("--sources", help="the landing area (for --apply; default as tsdg refresh)")
    p.add_argument("--warehouse")
    p.add_argument("--out", help="CSV report (default <warehouse>/revalidation/revalidation-<time>.csv)")
    p.set_defaults(fn=cmd_revalidate)
    p = sub.add_parser("contract", help="the contract at the door (registry/sources.yml) as the "
                                         "markdown table the README quotes")
    p.set_defaults(fn=cmd_contract)
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # what `tsdg serve` is asked to run
    return args.fn(args)


def program() -> None:
    """`tsdg` as a program (the console script): main(), then an exit without the
    interpreter's teardown. Tearing down the modules a refresh imports (Dagster, pandas,
    DuckDB, …) took about a second after the work was done, on every command. Exit
    handlers still run (the dbt and GX servers are stopped, logs flushed); every DuckDB
    connection was closed by its `with` block. Tests call main() in-process instead."""
    code = main()
    code = 0 if code is None else code
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    program()
