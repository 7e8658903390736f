"""The product against its floor, side by side on the same landing area.

For a sample size, generates the sample once, then runs, interleaved, the floor
(benchmarks/floor.py) and a first full `tsdg refresh` into an empty warehouse, `--rounds`
times each. Prints and writes (JSON and a markdown table, benchmarks/results/<label>.*):
wall, CPU (user + sys) and peak RSS of each run, the medians, the ratio product/floor of the
medians, the product's time per stage (from its Dagster event log) and whether the floor and
the release agree on every published value.

    .venv/bin/python benchmarks/compare.py --scale 0.02 --label tiny
    .venv/bin/python benchmarks/compare.py --scale 1 --label scale-1 --rounds 3
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv/bin"
# The product's Dagster steps, by the stage of the issue they belong to.
STAGES = {"reference_data": "ingest", "dbt_models": "dbt", "gx_validation": "GX",
          "release": "publish"}


def measured(cmd: list[str], log: Path, env: dict) -> dict:
    """Run cmd; its wall time, CPU (user + sys of it and its children) and peak RSS."""
    started = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed; see {log}")
    return {"wall_s": round(wall, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_rss_mib": round(usage.ru_maxrss / 1024)}


def stage_times(warehouse: Path) -> dict:
    """Seconds per stage of the product's last run, from its event log."""
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(warehouse / "dagster_home"))
    run = instance.get_runs(limit=1)[0]
    started, stages = {}, {}
    for entry in instance.all_logs(run.run_id):
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type_value == "STEP_START":
            started[entry.step_key] = entry.timestamp
        elif event.event_type_value == "STEP_SUCCESS":
            stage = "ingest" if entry.step_key.startswith("raw__") else \
                STAGES.get(entry.step_key, entry.step_key)
            stages[stage] = stages.get(stage, 0) + entry.timestamp - started[entry.step_key]
    return {k: round(v, 1) for k, v in stages.items()}


def agreement(floor_values: Path, release: Path) -> dict:
    """Every value the release publishes against the floor's, key by key."""
    key = "row(indicator_code, measure, group_code, as_of, coalesce(window_start, date '0001-01-01'))"
    con = duckdb.connect()
    row = con.execute(f"""
        with p as (select {key} as k, indicator_value as v
                   from '{release / "data/indicator_values.parquet"}'
                   where indicator_value is not null),
             f as (select {key} as k, indicator_value as v from '{floor_values}')
        select count(*),
            count(*) filter (where f.k is null),
            count(*) filter (where abs(p.v - f.v) <= 1e-9 * greatest(1, abs(p.v)))
        from p left join f using (k)""").fetchone()
    con.close()
    return {"published": row[0], "missing_in_floor": row[1], "equal": row[2],
            "all_agree": row[0] > 0 and row[2] == row[0]}


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor())
    mem = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal"))) / 2**20
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, Python {platform.python_version()}"


# The machine's state moves every figure by up to a half within minutes (a fixed Python loop
# took 1.4–5.8 s over these days), the floor's multi-threaded DuckDB and the product's Python
# differently: the loop is timed before and after the rounds, and the ratio is also given
# round by round, each round's two runs minutes apart.
CALIBRATION = "s = 0\nfor i in range(30_000_000):\n    s += i\n"


def calibration() -> float:
    """Seconds a fixed 30-million-step Python loop takes on this machine now."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", CALIBRATION], check=True)
    return round(time.perf_counter() - started, 2)


def median(runs: list[dict], field: str) -> float:
    return round(statistics.median(r[field] for r in runs), 2)


def markdown(result: dict) -> str:
    f, p = result["floor_median"], result["product_median"]
    lines = [
        f"### {result['label']}: scale {result['scale']}, {result['person_rows']:,} person-level "
        f"rows, {result['files']:,} files",
        "",
        f"{result['machine']}; {result['rounds']} rounds each, interleaved; medians. "
        f"Machine state: the calibration loop took {result['calibration_loop_s'][0]} s before "
        f"the rounds and {result['calibration_loop_s'][1]} s after.",
        "",
        "| | wall s | CPU s (user+sys) | peak RSS MiB |",
        "|---|---|---|---|",
        f"| floor (`benchmarks/floor.py`) | {f['wall_s']} | {f['cpu_s']} | {f['peak_rss_mib']} |",
        f"| product (`tsdg refresh`, first full) | {p['wall_s']} | {p['cpu_s']} | "
        f"{p['peak_rss_mib']} |",
        f"| **product / floor** | **{result['ratio']['wall']}×** | **{result['ratio']['cpu']}×** |"
        f" {result['ratio']['peak_rss']}× |",
        "",
        "CPU product / floor round by round: "
        + ", ".join(f"{r}×" for r in result["cpu_ratio_by_round"])
        + f" (median {statistics.median(result['cpu_ratio_by_round'])}×).",
        "",
        "Product stages (s, the median round): " + ", ".join(
            f"{k} {v}" for k, v in result["product_stages_median"].items())
        + f"; outside the steps (process start, definitions, launch) {result['outside_steps_s']}. "
        "The release's files are rendered during the GX step, while GX validates; publish is "
        "the commit after the pass (publish/candidate.py).",
        "",
        f"Agreement: {result['agreement']['equal']} of {result['agreement']['published']} "
        f"published values equal to the floor's"
        + (" (all)." if result["agreement"]["all_agree"] else " — **DISAGREE**."),
    ]
    return "\n".join(lines) + "\n"


def options(doc: str, scale: float, rounds: int, argv=None) -> argparse.Namespace:
    """The benchmarks' options (this one's and resubmission.py's), their work folder made."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--scale", type=float, default=scale)
    parser.add_argument("--label", default=None)
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks/results")
    args = parser.parse_args(argv)
    args.workdir = args.workdir or Path(tempfile.mkdtemp(prefix="tsdg-benchmark-"))
    args.workdir.mkdir(parents=True, exist_ok=True)
    return args


def environment(**extra: str) -> dict:
    return {**os.environ, "DO_NOT_TRACK": "1",
            "TSDG_PSEUDONYM_KEY": os.environ.get("TSDG_PSEUDONYM_KEY", "benchmark-key"), **extra}


def main(argv=None) -> int:
    args = options(__doc__, 0.02, 3, argv)
    label = args.label or f"scale-{args.scale:g}"
    work = args.workdir
    env = environment()
    landing = work / "landing"
    if not (landing / "sample_manifest.json").exists():
        print(f"[compare] generating the sample (scale {args.scale:g}) in {landing} …", flush=True)
        shutil.rmtree(landing, ignore_errors=True)
        measured([str(BIN / "tsdg"), "sample", "--out", str(landing), "--scale", str(args.scale)],
                 work / "sample.log", env)
    manifest = json.loads((landing / "sample_manifest.json").read_text())
    person_rows = sum(manifest["rows_per_family"].get(f, 0)
                      for f in ("training_rosters", "employment_services"))
    files = sum(1 for p in landing.rglob("*") if p.is_file() and p.name != "sample_manifest.json")

    floors, products, stages, agreed = [], [], [], None
    loop_before = calibration()
    print(f"[compare] calibration loop {loop_before} s", flush=True)
    for r in range(1, args.rounds + 1):
        out = work / f"floor-{r}.parquet"
        floors.append(measured([sys.executable, str(ROOT / "benchmarks/floor.py"), str(landing),
                                str(out)], work / f"floor-{r}.log", env))
        print(f"[compare] round {r} floor:   {floors[-1]}", flush=True)
        warehouse = work / "warehouse"
        shutil.rmtree(warehouse, ignore_errors=True)
        # --no-serve: the whole refresh in the process measured (a `tsdg serve` of the user
        # would run it in its own children, whose CPU is not the client's)
        products.append(measured([str(BIN / "tsdg"), "refresh", "--sources", str(landing),
                                  "--warehouse", str(warehouse), "--no-serve"],
                                 work / f"product-{r}.log", env))
        stages.append(stage_times(warehouse))
        print(f"[compare] round {r} product: {products[-1]} stages {stages[-1]}", flush=True)
        agreed = agreement(out, (warehouse / "releases/latest").resolve())
        if not agreed["all_agree"]:
            print(f"[compare] round {r}: the floor and the release DISAGREE: {agreed}", flush=True)

    loop_after = calibration()
    fm = {k: median(floors, k) for k in ("wall_s", "cpu_s", "peak_rss_mib")}
    pm = {k: median(products, k) for k in ("wall_s", "cpu_s", "peak_rss_mib")}
    # The stages of the round whose wall time is the median: medians taken stage by stage
    # would come from different rounds and not add up.
    middle = sorted(range(len(products)), key=lambda i: products[i]["wall_s"])[len(products) // 2]
    stage_median = {k: stages[middle].get(k, 0) for k in ("ingest", "dbt", "GX", "publish")}
    result = {
        "label": label, "scale": args.scale, "rounds": args.rounds, "machine": machine(),
        "person_rows": person_rows, "files": files,
        "floor": floors, "product": products, "product_stages": stages,
        "floor_median": fm, "product_median": pm, "product_stages_median": stage_median,
        "outside_steps_s": round(products[middle]["wall_s"] - sum(stage_median.values()), 1),
        "ratio": {"wall": round(pm["wall_s"] / fm["wall_s"], 1),
                  "cpu": round(pm["cpu_s"] / fm["cpu_s"], 1),
                  "peak_rss": round(pm["peak_rss_mib"] / fm["peak_rss_mib"], 1)},
        "cpu_ratio_by_round": [round(p["cpu_s"] / f["cpu_s"], 1)
                               for f, p in zip(floors, products)],
        "calibration_loop_s": [loop_before, loop_after],
        "agreement": agreed,
    }
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / f"{label}.json").write_text(json.dumps(result, indent=1) + "\n")
    table = markdown(result)
    (args.results / f"{label}.md").write_text(table)
    print(table)
    return 0 if agreed["all_agree"] else 1


if __name__ == "__main__":
    sys.exit(main())
