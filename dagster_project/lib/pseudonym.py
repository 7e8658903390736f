"""Keyed HMAC-SHA256 pseudonyms for national IDs.

The key comes from TSDG_PSEUDONYM_KEY or, when unset, from a random key written once to
a git-ignored local file. Raw IDs are pseudonymised inside DuckDB (in memory) before any
row is written; the SQL form below is the textbook HMAC construction so no row has to
leave the database engine.
"""

import hashlib
import hmac
import os
import secrets
from pathlib import Path

BLOCK = 64  # SHA-256 block size in bytes


def load_key(key_file: Path) -> bytes:
    env = os.environ.get("TSDG_PSEUDONYM_KEY")
    if env:
        return env.encode("utf-8")
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return key_file.read_text().strip().encode("utf-8")


def pseudonym(key: bytes, national_id: str) -> str:
    return hmac.new(key, national_id.encode("utf-8"), hashlib.sha256).hexdigest()


def sql_pads(key: bytes) -> tuple[bytes, bytes]:
    """(inner, outer) padded keys for HMAC computed in SQL as
    sha256(outer || unhex(sha256(inner || message)))."""
    if len(key) > BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


SQL_EXPRESSION = "sha256($outer_pad::blob || unhex(sha256($inner_pad::blob || encode({col}))))"
