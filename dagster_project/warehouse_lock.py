"""One writer at a time: `tsdg refresh` and Dagster runs that write the working warehouse
take the same lock file; a second writer is refused with a message saying why."""

import fcntl
import os
from contextlib import contextmanager

from dagster_project.config import Settings

# The start of the message a refused writer gets (tsdg refresh answers "busy" on it).
BUSY = "another refresh is running on"


class RefreshBusy(RuntimeError):
    pass


@contextmanager
def refresh_lock(s: Settings):
    s.warehouse_dir.mkdir(parents=True, exist_ok=True)
    with open(s.warehouse_dir / "refresh.lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "?"
            raise RefreshBusy(f"{BUSY} {s.warehouse_dir} (pid {holder}); "
                              "nothing was written — try again when it has finished") from None
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        yield
