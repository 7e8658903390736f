"""Exact integer allocation: split a total over weights so the parts sum to it exactly."""

import numpy as np

FIRST_YEAR, LAST_YEAR, LAST_MONTH = 2017, 2025, 9
N_MONTHS = (LAST_YEAR - FIRST_YEAR) * 12 + LAST_MONTH  # 2017-01 .. 2025-09


def month_index(year: int, month: int) -> int:
    return (year - FIRST_YEAR) * 12 + month - 1


def year_month(index: int) -> tuple[int, int]:
    return FIRST_YEAR + index // 12, index % 12 + 1


def split(total: int, weights) -> np.ndarray:
    """Largest-remainder split of `total` proportional to `weights` (all parts ≥ 0)."""
    weights = np.asarray(weights, dtype=float)
    if total == 0 or weights.sum() == 0:
        return np.zeros(weights.shape, dtype=np.int64)
    quotas = (total * weights / weights.sum()).ravel()
    parts = np.floor(quotas).astype(np.int64)
    short = int(total - parts.sum())
    order = np.argsort(-(quotas - parts), kind="stable")
    parts[order[:short]] += 1
    return parts.reshape(weights.shape)


def split_capped(total: int, caps) -> np.ndarray:
    """Split `total` proportional to `caps` so that no part exceeds its cap."""
    caps = np.asarray(caps, dtype=np.int64)
    if total > caps.sum():
        raise ValueError(f"cannot place {total} within caps summing to {caps.sum()}")
    return split(total, caps)


def exact_numerator(rate: float, denominator: int, decimals: int) -> int:
    """A numerator n with round(n / denominator, decimals) == rate."""
    n = round(rate * denominator)
    for candidate in (n, n - 1, n + 1, n - 2, n + 2):
        if round(candidate / denominator, decimals) == round(rate, decimals):
            return candidate
    raise ValueError(f"no numerator gives {rate} over {denominator}")
