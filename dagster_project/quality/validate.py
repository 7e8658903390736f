"""Run the GX suites of expectations/ against a warehouse file and report the results.

Each suite file names one table and holds GX expectation configurations; `meta.severity`
says whether a failure blocks publication (ERROR) or is reported (WARN).

The suites run in a child process (`python -m dagster_project.quality.validate`): GX and
duckdb-engine keep DuckDB objects alive until the interpreter exits (about 40 lines of
"nanobind: leaked" at the end of every command), and a child takes them, and GX's memory,
with it. One child runs every suite in one GX context.
"""

import json
import logging
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

from dagster_project.config import DUCKDB_MEMORY_LIMIT, PROJECT_ROOT

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
    with tempfile.TemporaryDirectory(prefix="tsdg-gx-") as scratch:
        suites_file, results_file = Path(scratch) / "suites.json", Path(scratch) / "results.json"
        suites_file.write_text(json.dumps(suites or load_suites(), ensure_ascii=False),
                               encoding="utf-8")
        done = subprocess.run([sys.executable, "-m", __name__, str(database), str(suites_file),
                               str(results_file)], capture_output=True, text=True)
        if done.returncode != 0 or not results_file.exists():
            from dagster_project.lib.redact import safe_text

            raise RuntimeError(f"the GX validation could not run (exit {done.returncode}): "
                               f"{safe_text(done.stderr[-1500:])}")
        return json.loads(results_file.read_text(encoding="utf-8"))


def _validate_here(database: Path, suites: list[dict]) -> dict:
    """GX warns freely about its own internals: silenced here only."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _validate(database, suites)


def _validate(database: Path, suites: list[dict]) -> dict:
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
                          f"&memory_limit={DUCKDB_MEMORY_LIMIT}",
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
    failures = [o for r in reports for o in r["expectations"] if not o["success"]]
    return {
        "validated_at": datetime.now(UTC).isoformat(),
        "database": str(database),
        "seconds": round(time.monotonic() - started, 2),
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


if __name__ == "__main__":
    # The child: python -m dagster_project.quality.validate DATABASE SUITES_JSON RESULTS_JSON
    import os

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    # The suites run on DuckDB only. GX imports pyspark, its ML library and SciPy's sparse
    # matrices when pyspark is installed (it is, for the Spark engine): seconds of every
    # refresh for nothing. Marked absent here, GX takes it as not installed.
    sys.modules["pyspark"] = None
    database, suites_path, results_path = (Path(a) for a in sys.argv[1:4])
    suites = json.loads(suites_path.read_text(encoding="utf-8"))
    results = _validate_here(database, suites)
    results_path.write_text(json.dumps(results, ensure_ascii=False), encoding="utf-8")
    sys.stdout.flush()
    # GX's leftovers die with the child, unreported (see the module docstring).
    os._exit(0)
