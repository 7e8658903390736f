"""Memory that held raw national IDs is overwritten when it is freed.

Reading a person-level file puts raw IDs in memory for a moment (the file's bytes, the CSV
reader's buffers). Freed memory is handed out again as is, and writers that put a whole
buffer on disk carry its unused tail with them: DuckDB writes the slack of a 256 KiB column
segment (duckdb/duckdb#23382: what put one raw ID into a published scale-1 tsdg.duckdb),
SQLite its page buffers. Inside `scrubbed()`, glibc's M_PERTURB fills every block freed
(and every block handed out) with a constant byte, so what the door freed cannot reach a
later writer of the same process.

Only for the door's own work, not for the whole process: it fills every large block handed
out in full, which costs where a caller asks for more than it uses (reading a file into a
buffer of the size limit did: a tiny refresh 15 s → 200 s, until files.read_landed asked
for the file's size). Blocks of at most 1 KiB that glibc keeps per thread (tcache) are not filled; they are only
ever handed to allocations as small, and no writer puts such a block on disk whole.
"""

import ctypes
import ctypes.util
import functools
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

M_PERTURB = -6  # glibc malloc.h
PERTURB_BYTE = 0xA5


class MemoryNotScrubbed(RuntimeError):
    """This C library cannot scrub freed memory: person-level files are not read here."""


_lock = threading.Lock()
_open = {"windows": 0}


@functools.cache
def _libc():
    """The C library, found once (finding it runs ldconfig: a millisecond a window, and
    the change scan opens one per file it hashes). None where it has no mallopt."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "mallopt") else None
    except OSError:
        return None


def _mallopt(value: int) -> bool:
    libc = _libc()
    return libc is not None and bool(libc.mallopt(M_PERTURB, value))


@contextmanager
def scrubbed() -> Iterator[None]:
    """Within the block (and any block nested in it, on any thread) freed memory is
    overwritten. Raw IDs must be read, and every object holding them freed, inside."""
    with _lock:
        if _open["windows"] == 0 and not _mallopt(PERTURB_BYTE):
            raise MemoryNotScrubbed(
                "person-level files are read only where freed memory can be overwritten "
                "(glibc's M_PERTURB); this C library has no such setting, so raw IDs could "
                "reach disk")
        _open["windows"] += 1
    try:
        yield
    except BaseException as exc:
        # A traceback keeps its frames' locals (a file's bytes) alive past the block, to be
        # freed later, unscrubbed: the finished frames are cleared here, inside it.
        _clear_frames(exc)
        raise
    finally:
        with _lock:
            _open["windows"] -= 1
            if _open["windows"] == 0:
                _mallopt(0)


def _clear_frames(exc: BaseException) -> None:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        traceback.clear_frames(exc.__traceback__)  # a frame still running is left as is
        exc = exc.__cause__ or exc.__context__


def scrubbing() -> bool:
    """Whether freed memory is being overwritten now."""
    return _open["windows"] > 0
