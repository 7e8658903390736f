"""The GX suites as blocking Dagster asset checks on the tables they validate."""

import json

import dagster as dg

from dagster_project.defs.resources import WarehouseResource
from dagster_project.model_reuse import kept_models
from dagster_project.publish import candidate
from dagster_project.quality.carried import carried, remember
from dagster_project.quality.report import render
from dagster_project.quality.validate import load_suites, summary, validate

SUITES = load_suites()


def _kept_tables(s) -> set[str]:
    """The tables this run's dbt step kept as they were (model_reuse.py)."""
    names = kept_models(s.database.parent)
    return {x["table"] for x in SUITES if x["table"].split(".")[-1] in names}


def _asset_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(table.split("."))  # dbt models are keyed <schema>/<model>


@dg.multi_asset_check(
    specs=[dg.AssetCheckSpec(name=f"gx_{s['name']}", asset=_asset_key(s["table"]), blocking=True,
                             description=s.get("description", ""))
           for s in SUITES],
)
def gx_validation(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
    s = warehouse.build(context)
    run_id = context.run.run_id
    kept = carried(s.database, _kept_tables(s))
    to_run = [x for x in SUITES if x["name"] not in {r["suite"] for r in kept}]
    # The release is rendered meanwhile, when its step runs in this process; it is published
    # only after this validation's pass, else removed with the run (publish/candidate.py).
    rendering = (candidate.start(s.database, s.releases_dir, run_id)
                 if candidate.renders_here(context) else None)
    fresh = validate(s.database, to_run)
    if kept:
        context.log.info(f"{len(kept)} suites' results carried over with the tables this "
                         f"build kept: {', '.join(r['table'] for r in kept)}")
    reports = sorted(fresh["suites"] + kept, key=lambda r: r["suite"])
    results = {**fresh, **summary(reports), "carried_suites": len(kept), "run_id": run_id}
    if rendering is not None:
        rendering.detached.wait()  # the release's tables are copied: the build may be written
    remember(s.database, results, run_id)
    # The publish step reads this file and refuses to publish without an explicit pass.
    s.validation_file.write_text(json.dumps(results, indent=1, ensure_ascii=False),
                                 encoding="utf-8")
    s.validation_file.with_suffix(".html").write_text(render(results), encoding="utf-8")
    for suite in results["suites"]:
        failed = [e for e in suite["expectations"] if not e["success"]]
        blocking = any(e["severity"] == "ERROR" for e in failed)
        yield dg.AssetCheckResult(
            check_name=f"gx_{suite['suite']}",
            asset_key=_asset_key(suite["table"]),
            passed=not failed,
            severity=dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN,
            metadata={"expectations": len(suite["expectations"]), "failed": len(failed),
                      "failures": "\n".join(f"{e['severity']} {e['rule']}: {e['unexpected_count']}"
                                            for e in failed) or "none",
                      "validated_by_run": suite.get("validated_by_run", context.run.run_id)},
        )
