"""Helper processes that live as long as the process that started them: each reads its
stdin and ends when it closes (the GX server, quality/gx_server.py; the dbt server,
dbt_server.py). Standard library only: the dbt server's client imports this module too."""

import contextlib
import subprocess


def stop_owned(server: subprocess.Popen, grace: float = 10) -> None:
    """Close the server's stdin (it ends), reap it, killed if it has not ended within
    `grace` seconds; its stdout pipe, if any, closed."""
    with contextlib.suppress(OSError):
        server.stdin.close()
    try:
        server.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    if server.stdout is not None:
        server.stdout.close()
