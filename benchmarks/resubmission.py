"""One county file resubmitted: its refresh against a first full refresh, in a process of its
own and forked from `tsdg serve`, side by side.

Generates the sample (scale 1 by default), times a first full `tsdg refresh` (the
denominator), then `--rounds` rounds of: one county file resubmitted (a line end appended:
new bytes, a new vintage, the same figures) and refreshed in its own process (`--no-serve`),
then again, forked from a `tsdg serve` started for the purpose; and a refresh with nothing
changed, each way. Prints and writes (benchmarks/results/<label>.json and .md) the wall
times, their medians, and each median as a share of the full refresh.

Wall time only: a served refresh's CPU is spent in the server's children, not the client's.

    .venv/bin/python benchmarks/resubmission.py --label resubmission-scale-1 --rounds 5
"""

import json
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import ROOT, calibration, environment, machine, measured, options  # noqa: E402

TSDG = str(ROOT / ".venv/bin/tsdg")


def _serve(env: dict, log: Path) -> subprocess.Popen:
    out = log.open("w")
    server = subprocess.Popen([TSDG, "serve"], env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while "serving `tsdg refresh`" not in log.read_text():
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"tsdg serve did not start; see {log}")
        time.sleep(0.1)
    return server


def markdown(r: dict) -> str:
    full = r["full_refresh_wall_s"]

    def row(name: str, runs: list[float]) -> str:
        m = statistics.median(runs)
        return (f"| {name} | {', '.join(f'{x:.2f}' for x in runs)} | **{m:.2f}** | "
                f"**{100 * m / full:.1f} %** |")

    return "\n".join([
        f"### {r['label']}: scale {r['scale']}, one county file resubmitted",
        "",
        f"{r['machine']}; {r['rounds']} rounds, the two ways alternating. Machine state: the "
        f"calibration loop took {r['calibration_loop_s'][0]} s before and "
        f"{r['calibration_loop_s'][1]} s after.",
        "",
        f"First full refresh (the denominator): **{full:.2f} s** wall.",
        "",
        "| refresh | wall s, round by round | median | of the full refresh |",
        "|---|---|---|---|",
        row("resubmitted, in its own process (`--no-serve`)", r["own_process_wall_s"]),
        row("resubmitted, forked from `tsdg serve`", r["served_wall_s"]),
        row("nothing changed, own process", r["nothing_changed_own_wall_s"]),
        row("nothing changed, served", r["nothing_changed_served_wall_s"]),
        "",
    ])


def main(argv=None) -> int:
    args = options(__doc__, 1.0, 5, argv)
    label = args.label or f"resubmission-scale-{args.scale:g}"
    work = args.workdir
    # A servers' folder of its own: a `tsdg serve` the user runs is neither used nor stopped.
    servers = Path(tempfile.mkdtemp(prefix="tsdg-b"))
    env = environment(TMPDIR=str(servers))
    landing, warehouse = work / "landing", work / "warehouse"
    if not landing.exists():
        measured([TSDG, "sample", "--out", str(landing), "--scale", str(args.scale)],
                 work / "sample.log", env)
    base = [TSDG, "refresh", "--sources", str(landing), "--warehouse", str(warehouse)]
    loop_before = calibration()
    print(f"full refresh, scale {args.scale:g} …", flush=True)
    full = measured([*base, "--no-serve"], work / "full.log", env)["wall_s"]
    print(f"  {full:.2f} s", flush=True)
    county = sorted((landing / "county_submissions").glob("*.csv"))[0]
    server = _serve(env, work / "serve.log")
    own, served, still_own, still_served = [], [], [], []
    try:
        for i in range(args.rounds):
            for runs, extra in ((own, ["--no-serve"]), (served, [])):
                with county.open("ab") as f:
                    f.write(b"\n")
                log = work / f"round-{i}-{'own' if extra else 'served'}.log"
                runs.append(measured([*base, *extra], log, env)["wall_s"])
            print(f"round {i + 1}: own process {own[-1]:.2f} s, served {served[-1]:.2f} s",
                  flush=True)
        for _ in range(3):
            still_own.append(measured([*base, "--no-serve"], work / "still.log", env)["wall_s"])
            still_served.append(measured(base, work / "still.log", env)["wall_s"])
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)
        shutil.rmtree(servers, ignore_errors=True)
    result = {"label": label, "scale": args.scale, "rounds": args.rounds, "machine": machine(),
              "calibration_loop_s": [loop_before, calibration()],
              "full_refresh_wall_s": full, "own_process_wall_s": own, "served_wall_s": served,
              "nothing_changed_own_wall_s": still_own,
              "nothing_changed_served_wall_s": still_served}
    text = markdown(result)
    print(text)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / f"{label}.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.results / f"{label}.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
