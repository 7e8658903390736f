"""How long a statistician waits for one indicator, three ways, on a published release.

  process   `tsdg query "<one indicator>"` as a command (Python start, CLI, confined open)
  session   the same query on an open `access.connect()` connection in a Python session
  pandas    `pandas.read_sql` of one whole mart through the SQLAlchemy engine (`access.engine`)

Prints p50/p95 of each and writes JSON (--out).

    .venv/bin/python benchmarks/lookups.py WAREHOUSE [--runs 20] [--out FILE.json]
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUERY = ("select indicator_code, measure, group_code, window_start, as_of, display_value, "
         "numerator, denominator from indicator_values "
         "where indicator_code = '8.5.3' and is_headline order by as_of")
MART = "select * from indicator_values"


def percentiles(times: list[float]) -> dict:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"runs": len(times), "p50_ms": round(statistics.median(ordered) * 1000, 1),
            "p95_ms": round(p95 * 1000, 1), "max_ms": round(ordered[-1] * 1000, 1)}


def timed(fn, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import pandas as pd

    from dagster_project.publish import access
    from dagster_project.publish.access import RELEASE_DB

    release_db = (args.warehouse / "releases/latest").resolve() / RELEASE_DB
    tsdg = str(ROOT / ".venv/bin/tsdg")

    def process():
        out = subprocess.run([tsdg, "query", QUERY, "--warehouse", str(args.warehouse)],
                             capture_output=True, text=True, check=True).stdout
        assert out.count("\n") > 1, "the query returned no rows"

    con = access.connect(release_db)
    in_session = timed(lambda: con.execute(QUERY).fetchall(), args.runs * 10)
    con.close()
    engine = access.engine(release_db)
    rows = len(pd.read_sql(MART, engine))  # the engine's first connection, outside the timing
    frames = timed(lambda: pd.read_sql(MART, engine), args.runs)
    engine.dispose()
    result = {"query": QUERY, "process": percentiles(timed(process, args.runs)),
              "session": percentiles(in_session),
              "pandas_mart": percentiles(frames) | {"rows": rows}}
    for name in ("process", "session", "pandas_mart"):
        r = result[name]
        print(f"{name:12} p50 {r['p50_ms']:>8} ms   p95 {r['p95_ms']:>8} ms   ({r['runs']} runs)")
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
