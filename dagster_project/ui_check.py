"""Start `dagster dev` on 127.0.0.1, ask its GraphQL API what it serves, and optionally
take a headless-Chromium screenshot of the asset graph.

    python -m dagster_project.ui_check [--screenshot docs/ui/asset_graph.png]

It runs on throwaway DAGSTER_HOME, sources and warehouse folders: nothing real is touched.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from dagster_project.config import PROJECT_ROOT
from dagster_project.publish.pdf_printer import chromium

INVENTORY = """
{
  assetNodes { assetKey { path } assetChecksOrError { ... on AssetChecks { checks { name } } } }
  repositoriesOrError {
    ... on RepositoryConnection {
      nodes {
        schedules { name cronSchedule executionTimezone }
        sensors { name }
        jobs { name }
      }
    }
  }
}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(base: str, query: str) -> dict:
    request = urllib.request.Request(f"{base}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.loads(response.read())
    if body.get("errors"):
        raise RuntimeError(f"GraphQL errors: {body['errors']}")
    return body["data"]


@contextmanager
def dagster_dev(workdir: Path, timeout: float = 240):
    """A running `dagster dev`; yields its base URL and stops it (and its children) after."""
    home = workdir / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT_ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "DO_NOT_TRACK": "1",
           "TSDG_SOURCES_DIR": str(workdir / "landing"), "TSDG_WAREHOUSE_DIR": str(workdir / "warehouse")}
    log = open(workdir / "dagster_dev.log", "w")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster"), "dev", "-m", "dagster_project.definitions",
         "-h", "127.0.0.1", "-p", str(port)],
        cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"dagster dev exited: {(workdir / 'dagster_dev.log').read_text()[-2000:]}")
            try:
                if graphql(base, "{ version }"):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"dagster dev did not answer on {base} in {timeout:.0f} s")
            time.sleep(2)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def inventory(base: str) -> dict:
    data = graphql(base, INVENTORY)
    repo = data["repositoriesOrError"]["nodes"][0]
    return {
        "assets": sorted("/".join(n["assetKey"]["path"]) for n in data["assetNodes"]),
        "checks": sorted(c["name"] for n in data["assetNodes"]
                         for c in (n["assetChecksOrError"] or {}).get("checks", [])),
        "schedules": {s["name"]: (s["cronSchedule"], s["executionTimezone"]) for s in repo["schedules"]},
        "sensors": sorted(s["name"] for s in repo["sensors"]),
        "jobs": sorted(j["name"] for j in repo["jobs"]),
    }


def screenshot(url: str, out: Path, chromium: str = "chromium") -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                        "--no-first-run", "--disable-background-networking", "--disable-sync",
                        "--disable-component-update", f"--user-data-dir={profile}",
                        "--hide-scrollbars", "--window-size=1600,1000",
                        "--virtual-time-budget=25000", f"--screenshot={out}", url],
                       check=True, capture_output=True, timeout=180)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenshot", type=Path, help="save the asset graph here (needs chromium)")
    parser.add_argument("--chromium", default=chromium() or "chromium")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tsdg-ui-") as workdir, dagster_dev(Path(workdir)) as base:
        print(json.dumps(inventory(base), indent=1))
        if args.screenshot:
            screenshot(f"{base}/asset-groups", args.screenshot.resolve(), args.chromium)
            print(f"screenshot: {args.screenshot}")
            for group in ("ingest", "marts"):
                out = args.screenshot.with_name(f"{args.screenshot.stem}_{group}.png").resolve()
                screenshot(f"{base}/locations/dagster_project.definitions/asset-groups/{group}/lineage",
                           out, args.chromium)
                print(f"screenshot: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
