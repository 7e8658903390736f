#!/usr/bin/env bash
# Wall time and peak memory of `tsdg sample` and `tsdg refresh` at a scale (default 1):
# a first full refresh, then the incremental cases — nothing changed, one county file
# resubmitted (new bytes: a new vintage), a backfill of one quarter, every quarter
# re-ingested in one process and with `--workers 2`, and the same build with the models on
# a local Spark (`--engine spark`, over the lake).
#   benchmarks/run.sh [SCALE] [WORKDIR]
# Prints one line per step: step, scale, wall time, peak RSS MiB, and the row counts. Every
# refresh runs in its own process (--no-serve); benchmarks/resubmission.py times the
# resubmission forked from `tsdg serve` beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-1}
work=${2:-$(mktemp -d)}
export DO_NOT_TRACK=1 TSDG_PSEUDONYM_KEY=${TSDG_PSEUDONYM_KEY:-benchmark-key}
measure() {  # name, command...
  local name=$1; shift
  /usr/bin/time -v "$@" > "$work/$name.out" 2> "$work/$name.time"
  local wall rss
  wall=$(grep "Elapsed (wall clock)" "$work/$name.time" | awk '{print $NF}')
  rss=$(grep "Maximum resident set size" "$work/$name.time" | awk '{print $NF}')
  printf '%-8s scale=%-4s wall=%-9s peak_rss=%d MiB\n' "$name" "$scale" "$wall" $((rss / 1024))
}
mkdir -p "$work"
rm -rf "$work/landing" "$work/warehouse"
measure sample .venv/bin/tsdg sample --out "$work/landing" --scale "$scale"
grep -E "rows$" "$work/sample.out" | sed 's/^\[[^]]*\] /  /'
measure refresh .venv/bin/tsdg refresh --no-serve --sources "$work/landing" --warehouse "$work/warehouse"
grep -E "ingesting|: ok in|FAILED" "$work/refresh.out" | sed 's/^\[[^]]*\] /  /' || true
du -sh "$work/landing" "$work/warehouse/tsdg.duckdb" | sed 's/^/  /'
measure nochange .venv/bin/tsdg refresh --no-serve --sources "$work/landing" --warehouse "$work/warehouse"
county=$(ls "$work/landing/county_submissions/"*.csv | head -1)
printf '\n' >> "$county"
measure resubmit .venv/bin/tsdg refresh --no-serve --sources "$work/landing" --warehouse "$work/warehouse"
grep -E "ingesting|: ok in|FAILED" "$work/resubmit.out" | sed 's/^\[[^]]*\] /  /' || true
measure backfill .venv/bin/tsdg refresh --no-serve --sources "$work/landing" --warehouse "$work/warehouse" \
  --quarters 2024Q3
# Every quarter re-ingested, in one process and with the steps as two processes at once
# (the families' ingest side by side): the same work, side by side.
all=$(.venv/bin/python -c "from dagster_project.lib.quarters import quarter_keys as k; print(f'{k()[0]}..{k()[-1]}')" 2>/dev/null)
measure backfill_all .venv/bin/tsdg refresh --no-serve --sources "$work/landing" --warehouse "$work/warehouse" \
  --quarters "$all"
measure workers2 .venv/bin/tsdg refresh --no-serve --sources "$work/landing" --warehouse "$work/warehouse" \
  --quarters "$all" --workers 2
measure spark .venv/bin/tsdg refresh --no-serve --sources "$work/landing" --warehouse "$work/warehouse" \
  --engine spark
grep -E ": ok in|FAILED" "$work/spark.out" | sed 's/^\[[^]]*\] /  /' || true
