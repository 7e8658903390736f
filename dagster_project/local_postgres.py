"""A throwaway PostgreSQL server in a folder, from Debian's `postgresql` package: for
`make dev-postgres` (Dagster's storage on PostgreSQL, as a team runs it) and the test that
proves a refresh writes its run and events there. It listens on a Unix socket in the
folder only (no TCP port), trusts local connections, and stops when the block ends.

    with local_postgres(folder) as url:   # postgresql://postgres@/dagster?host=<folder>
        ...
"""

import glob
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DATABASE = "dagster"


class PostgresMissing(RuntimeError):
    pass


def _bin(tool: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}")) or [shutil.which(tool)]
    if not found[-1]:
        raise PostgresMissing(f"{tool} not found: install Debian's postgresql package "
                              "(make system-deps does)")
    return found[-1]


def _as_owner(command: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; as root, run it as Debian's `postgres` user.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _run(command: list[str]) -> None:
    done = subprocess.run(_as_owner(command), capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{Path(command[0]).name} failed ({done.returncode}): "
                           f"{(done.stderr or done.stdout).strip()[-500:]}")


@contextmanager
def local_postgres(folder: Path) -> Iterator[str]:
    """`folder` must be reachable by the `postgres` user when run as root (not under a
    private 0700 folder such as pytest's tmp_path)."""
    folder = Path(folder).resolve()
    data, socket_dir = folder / "data", folder / "socket"
    for path in (folder, socket_dir):
        path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        shutil.chown(socket_dir, "postgres")
    if not data.exists():
        _run([_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
              "--encoding=UTF8", "--no-locale"])
    _run([_bin("pg_ctl"), "-D", str(data), "-w", "-l", str(folder / "postgres.log"), "-o",
          f"-c listen_addresses='' -k {socket_dir}", "start"])
    try:
        subprocess.run(_as_owner([_bin("createdb"), "-h", str(socket_dir), "-U", "postgres",
                                  DATABASE]), check=False, capture_output=True)
        yield f"postgresql://postgres@/{DATABASE}?host={socket_dir}"
    finally:
        subprocess.run(_as_owner([_bin("pg_ctl"), "-D", str(data), "-w", "-m", "fast",
                                  "stop"]), check=False, capture_output=True)


def main(argv: list[str]) -> int:
    """python -m dagster_project.local_postgres FOLDER -- COMMAND...: run COMMAND with the
    server up and TSDG_DAGSTER_POSTGRES_URL set (make dev-postgres)."""
    folder, command = argv[0], argv[argv.index("--") + 1:]
    # A TERM (a service manager, `timeout`) stops the command and then the server too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with local_postgres(Path(folder)) as url:
        print(f"PostgreSQL for Dagster: {url}", flush=True)
        try:
            return subprocess.run(command, env={**os.environ,
                                                "TSDG_DAGSTER_POSTGRES_URL": url}).returncode
        except KeyboardInterrupt:
            return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
