"""Helper processes that live as long as the process that started them: each reads its
stdin (or, Chromium, its DevTools pipe) and ends when it closes (the GX server,
quality/gx_server.py; the dbt server, dbt_server.py; the report's browser,
publish/pdf_printer.py). Standard library only: the dbt server's client imports this
module too."""

import contextlib
import subprocess


def stop_owned(server: subprocess.Popen, grace: float = 10) -> None:
    """Close the server's stdin (it ends), reap it, killed if it has not ended within
    `grace` seconds; its stdout pipe, if any, closed."""
    with contextlib.suppress(OSError):
        server.stdin.close()
    reap(server, grace)
    if server.stdout is not None:
        server.stdout.close()


def reap(process: subprocess.Popen, grace: float = 10) -> None:
    """Wait for a process told to end (its input closed), killed if it has not ended within
    `grace` seconds."""
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def disowned(server: subprocess.Popen | None) -> None:
    """In a child forked from the server's owner: close the child's copies of the pipes to
    the server (held open, they would keep it alive after its owner ended). The child uses
    the server, if at all, as an ancestor's (lib/server_sockets.py); it does not own it."""
    if server is None:
        return
    for pipe in (server.stdin, server.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()
