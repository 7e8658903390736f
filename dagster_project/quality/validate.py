"""Run the GX suites of expectations/ against a warehouse file and report the results.

Each suite file names one table and holds GX expectation configurations; `meta.severity`
says whether a failure blocks publication (ERROR) or is reported (WARN).

The suites run in a child process: GX and duckdb-engine keep DuckDB objects alive until
the interpreter exits (about 40 lines of "nanobind: leaked" at the end of every command),
and a child takes them, and GX's memory, with it. One child runs every suite in one GX
context. The children are forked from a process that imported GX once (`gx_server.py`,
started by a run's dbt step or the first validation of a process, ending with it):
importing GX costs about 1.5 s of CPU (4 s before SciPy's statistics and Altair were left
to first use), paid once per process that validates, not once per validation (a test session
validates dozens of builds, a long-lived Dagster process many), and not once per step
process of `tsdg refresh --workers` (those use the refresh's server).
"""

import atexit
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from datetime import UTC, datetime
from pathlib import Path

from dagster_project.config import DUCKDB_MEMORY_LIMIT, PROJECT_ROOT
from dagster_project.lib import server_sockets
from dagster_project.lib.owned_process import disowned, stop_owned

SUITES_DIR = PROJECT_ROOT / "expectations"
EXAMPLES = 5


def load_suites(folder: Path = SUITES_DIR) -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]


def _json_safe(value):
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _outcome(result) -> dict:
    config = result.expectation_config
    details = result.result or {}
    examples = (details.get("details") or {}).get("unexpected_rows")
    if hasattr(examples, "to_dict"):  # a DataFrame of the unexpected rows
        examples = examples.head(EXAMPLES).to_dict("records")
    examples = examples or details.get("partial_unexpected_list") or []
    unexpected = details.get("unexpected_count")
    if unexpected is None and config.type == "unexpected_rows_expectation":
        unexpected = details.get("observed_value")
    error = (result.exception_info or {}).get("exception_message")
    return _json_safe({
        "expectation": config.type,
        "rule": config.meta.get("rule", config.type),
        "severity": config.meta.get("severity", "ERROR"),
        "success": bool(result.success),
        "unexpected_count": unexpected,
        "examples": list(examples)[:EXAMPLES],
        "error": error,
    })


def validate(database: Path, suites: list[dict] | None = None) -> dict:
    """Validate every suite against `database` (opened read-only) in a child process;
    never raises on failed expectations, only when the validation itself cannot run."""
    suites = load_suites() if suites is None else suites
    if not suites:  # nothing to run (every table's results carried over): no child
        return {"validated_at": datetime.now(UTC).isoformat(), "database": str(database),
                "seconds": 0.0, **summary([])}
    with tempfile.TemporaryDirectory(prefix="tsdg-gx-") as scratch:
        suites_file, results_file = Path(scratch) / "suites.json", Path(scratch) / "results.json"
        suites_file.write_text(json.dumps(suites, ensure_ascii=False),
                               encoding="utf-8")
        code = _in_child({"database": str(database), "suites_path": str(suites_file),
                          "results_path": str(results_file), "memory_limit": DUCKDB_MEMORY_LIMIT})
        if code != 0 or not results_file.exists():
            from dagster_project.lib.redact import safe_text

            failed = results_file.with_suffix(".error")
            said = failed.read_text(encoding="utf-8") if failed.exists() else ""
            raise RuntimeError(f"the GX validation could not run (exit {code}): "
                               f"{safe_text(said[-1500:])}")
        return json.loads(results_file.read_text(encoding="utf-8"))


_SERVER: subprocess.Popen | None = None
_SERVER_LOCK = threading.Lock()  # one request at a time on the server's pipes


def _forget() -> None:
    """A process forked from this one (a refresh forked by `tsdg serve`) uses this process's
    server as an ancestor's (`_in_child`): its exit must not stop it, nor its copies of the
    pipes keep it (as dbt_server._forget)."""
    global _SERVER, _SERVER_LOCK
    _SERVER_LOCK = threading.Lock()  # a fork during a request copies the lock held
    disowned(_SERVER)
    _SERVER = None


os.register_at_fork(after_in_child=_forget)


def warm() -> None:
    """Start this process's GX server now, so that it imports GX on the other core before
    the validation waits for it."""
    with _SERVER_LOCK:
        _started()


def ensure() -> None:
    """A GX server for this process's validation: its own, or its nearest ancestor's (the
    refresh's, for a step of `tsdg refresh --workers`), else one started now. Called as
    the run waits for dbt, a core is free to import GX meanwhile."""
    if not _running() and server_sockets.nearest("gx") is None:
        warm()


def _started() -> subprocess.Popen:
    global _SERVER
    if _SERVER is None or _SERVER.poll() is not None:
        stop_server()
        # Its socket (if it can have one) serves this process's descendants: the steps of
        # `tsdg refresh --workers`.
        path = server_sockets.prepared(os.getpid(), "gx")
        _SERVER = subprocess.Popen(
            [sys.executable, "-m", "dagster_project.quality.gx_server",
             *([str(path)] if path else [])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return _SERVER


def _running() -> bool:
    return _SERVER is not None and _SERVER.poll() is None


def _in_child(request: dict) -> int | None:
    """_child(**request) in a child forked from a GX server: this process's own if it has
    one running, else its nearest ancestor's (a step of `tsdg refresh --workers` uses the
    refresh's), else one this process starts now (or again, if it died). The child's exit
    code; None if the server died."""
    if not _running() and (ancestors := server_sockets.nearest("gx")) is not None:
        code = _via_socket(ancestors, request)
        if code is not None:
            return code
    with _SERVER_LOCK:
        server = _started()
        try:
            server.stdin.write(json.dumps(request) + "\n")
            server.stdin.flush()
            reply = server.stdout.readline()
        except (BrokenPipeError, OSError):
            reply = ""
        return json.loads(reply)["exit"] if reply else None


def _via_socket(path: Path, request: dict) -> int | None:
    """The request on another process's server; None if it did not answer (gone, or a
    socket a killed server left)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(str(path))
            sock.sendall((json.dumps(request) + "\n").encode())
            with sock.makefile("rb") as reader:
                reply = reader.readline()
    except OSError:
        return None
    return json.loads(reply)["exit"] if reply else None


@atexit.register
def stop_server() -> None:
    if _SERVER is not None:
        stop_owned(_SERVER)


def _child(database: str, suites_path: str, results_path: str, memory_limit: str) -> None:
    """In the forked child: every suite, the results as JSON at `results_path` (or a
    failure's traceback beside it), then an exit that leaves GX's leftovers unreported."""
    code = 0
    try:
        suites = json.loads(Path(suites_path).read_text(encoding="utf-8"))
        results = _validate_here(Path(database), suites, memory_limit)
        Path(results_path).write_text(json.dumps(results, ensure_ascii=False), encoding="utf-8")
    except BaseException:
        Path(results_path).with_suffix(".error").write_text(traceback.format_exc(),
                                                            encoding="utf-8")
        code = 1
    os._exit(code)


def _validate_here(database: Path, suites: list[dict], memory_limit: str) -> dict:
    """GX warns freely about its own internals: silenced here only."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _validate(database, suites, memory_limit)


def _validate(database: Path, suites: list[dict], memory_limit: str) -> dict:
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
    from sqlalchemy.pool import StaticPool

    from dagster_project.quality import gx_duckdb

    gx_duckdb.install()
    started = time.monotonic()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    # No tqdm bars in run logs and refresh output: the results report the progress.
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    source = context.data_sources.add_sql(
        name="warehouse", connection_string=f"duckdb:///{database}?access_mode=read_only"
                          f"&memory_limit={memory_limit}",
        # One connection for every query, opened once: with no pool, GX opened the file
        # anew for each of its ~120 queries (26 ms each). GX runs its queries one at a time;
        # the connection closes with the engines below, and the child exits after.
        kwargs={"poolclass": StaticPool})
    reports = []
    try:
        for suite_def in suites:
            schema, table = suite_def["table"].split(".")
            asset = source.add_table_asset(name=suite_def["name"], table_name=table, schema_name=schema)
            batch = asset.add_batch_definition_whole_table("whole_table")
            suite = context.suites.add(gx.ExpectationSuite(
                name=suite_def["name"],
                expectations=[ExpectationConfiguration(**e).to_domain_obj()
                              for e in suite_def["expectations"]]))
            definition = context.validation_definitions.add(
                gx.ValidationDefinition(name=suite_def["name"], data=batch, suite=suite))
            # COMPLETE: the unexpected rows' examples (lineage columns) are in the report.
            result = definition.run(result_format={"result_format": "COMPLETE",
                                                   "partial_unexpected_count": EXAMPLES})
            outcomes = [_outcome(r) for r in result.results]
            reports.append({"suite": suite_def["name"], "table": suite_def["table"],
                            "description": suite_def.get("description", ""),
                            "success": all(o["success"] for o in outcomes),
                            "expectations": outcomes})
    finally:
        # The data source and its execution engine each hold an engine: close both.
        source.get_execution_engine().engine.dispose()
        source.get_engine().dispose()
    return {"validated_at": datetime.now(UTC).isoformat(), "database": str(database),
            "seconds": round(time.monotonic() - started, 2), **summary(reports)}


def summary(reports: list[dict]) -> dict:
    """The verdict of a set of suite reports: passed unless an ERROR expectation failed."""
    failures = [o for r in reports for o in r["expectations"] if not o["success"]]
    return {
        "passed": not any(f["severity"] == "ERROR" for f in failures),
        "errors": sum(f["severity"] == "ERROR" for f in failures),
        "warnings": sum(f["severity"] == "WARN" for f in failures),
        "expectations": sum(len(r["expectations"]) for r in reports),
        "suites": reports,
    }


def failure_lines(results: dict) -> list[str]:
    """Readable lines naming each failed expectation with example rows."""
    lines = []
    for suite in results["suites"]:
        for e in suite["expectations"]:
            if e["success"]:
                continue
            lines.append(f"{e['severity']} {suite['table']}: {e['rule']} "
                         f"({e['unexpected_count']} unexpected){' — ' + e['error'] if e['error'] else ''}")
            lines += [f"    e.g. {json.dumps(x, ensure_ascii=False)}" for x in e["examples"]]
    return lines
