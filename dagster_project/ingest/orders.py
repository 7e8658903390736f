"""Refusals ordered by `tsdg revalidate --apply`: loaded files that fail the contract as it
now is, to be quarantined by the next refresh that reads them.

Without an order a loaded file that now fails is kept (its rows and vintage stay, the run
warns): a contract change never silently takes published data out. The orders live beside
the warehouse (<warehouse>/revalidation/orders.json), not in it: revalidate opens the
warehouse read-only, and only a refresh's build writes it. An order is dropped once a
refresh has acted on it (the file quarantined) or found it moot (the file passes again, or
is no longer in the landing area).
"""

import json
import os
from pathlib import Path

from dagster_project.config import Settings

Key = tuple[str, str, str]  # family, file name, sha256


def orders_file(s: Settings) -> Path:
    return s.warehouse_dir / "revalidation" / "orders.json"


def refusals(s: Settings) -> dict[Key, str]:
    """(family, file, sha256) → the rule that now refuses it."""
    path = orders_file(s)
    if not path.exists():
        return {}
    return {(o["family"], o["file_name"], o["sha256"]): o["rule"]
            for o in json.loads(path.read_text(encoding="utf-8"))["refuse"]}


def order(s: Settings, orders: dict[Key, str]) -> None:
    """Replace the orders: the verdicts of the latest revalidation are the ones that hold."""
    path = orders_file(s)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps({"refuse": [
        {"family": f, "file_name": n, "sha256": h, "rule": r}
        for (f, n, h), r in sorted(orders.items())]}, ensure_ascii=False, indent=1),
        encoding="utf-8")
    os.replace(partial, path)  # a refresh reading it sees the old orders or the new


def settle(s: Settings, done: set[Key]) -> None:
    """Drop the orders a refresh has acted on or found moot."""
    orders = refusals(s)
    if done & set(orders):
        order(s, {k: v for k, v in orders.items() if k not in done})
