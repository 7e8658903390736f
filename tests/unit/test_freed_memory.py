"""Memory the door frees is overwritten before anything can reuse it (lib/freed_memory)."""

import ctypes
import sys

import pytest

from dagster_project.lib.freed_memory import PERTURB_BYTE, scrubbed, scrubbing

SIZE = 64 * 1024  # above glibc's per-thread cache (1 KiB), below its mmap threshold (128 KiB)
RAW = b"A123456789"  # an ID-shaped marker

libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]


def _reused_after_free() -> bytes:
    """Fill a block with the marker, free it, take a block of the same size again: glibc
    hands the same one back. Its bytes past the allocator's own bookkeeping."""
    first = libc.malloc(SIZE)
    ctypes.memmove(first, RAW * (SIZE // len(RAW)), SIZE // len(RAW) * len(RAW))
    guard = libc.malloc(64)  # keeps the block from merging into the heap's top
    libc.free(first)
    again = libc.malloc(SIZE)
    try:
        assert again == first, "glibc did not hand the freed block back: nothing to compare"
        return ctypes.string_at(again + 64, SIZE - 128)
    finally:
        libc.free(again)
        libc.free(guard)


def test_outside_the_door_a_freed_block_comes_back_as_it_was():
    """The hazard itself: without scrubbing, the next owner of a block reads the last one's
    data (what a DuckDB column segment's slack carried into tsdg.duckdb)."""
    assert not scrubbing()
    assert RAW in _reused_after_free()


def test_inside_the_door_a_freed_block_comes_back_overwritten():
    with scrubbed():
        assert scrubbing()
        reused = _reused_after_free()
    assert RAW not in reused
    assert set(reused) <= {PERTURB_BYTE, PERTURB_BYTE ^ 0xFF}
    assert not scrubbing()


def test_a_failure_inside_the_door_leaves_no_locals_alive_and_scrubbing_off():
    captured = {}

    def reads_a_file():
        data = RAW * 1000  # a file's bytes, as a frame's local
        assert data
        captured["frame"] = sys._getframe()
        raise ValueError("refused")

    with pytest.raises(ValueError) as failure, scrubbed():
        reads_a_file()
    assert captured["frame"].f_locals == {}  # cleared inside the window, not later
    assert failure.value.args == ("refused",)
    assert not scrubbing()
