"""The calibrated plan: exact monthly totals per source cell, fixed by the published figures.

Every published `must_match` figure is turned into a total over a block of months; the
blocks are split over months (seasonal weights), then over branches or counties. The
person-level writers then emit exactly these many records, so a correct counting rule
reproduces each published figure. Names of blocks: A = 2017-2020, B = 2021,
C = 2022-2024, D = 2025-01..08, E = 2025-09.
"""

from dataclasses import dataclass

import numpy as np

from dagster_project.lib.reference import branches, counties
from dagster_project.sample.allocate import (
    N_MONTHS,
    exact_numerator,
    month_index,
    split,
    split_capped,
)

A = (month_index(2017, 1), month_index(2020, 12))
B = (month_index(2021, 1), month_index(2021, 12))
C = (month_index(2022, 1), month_index(2024, 12))
D = (month_index(2025, 1), month_index(2025, 8))
E = (month_index(2025, 9), month_index(2025, 9))
LAST = N_MONTHS - 1
BRANCH_CODES = [b["branch_code"] for b in branches()]
BRANCH_WEIGHTS = np.array([0.31, 0.19, 0.21, 0.14, 0.15])
COUNTY_CODES = [c["county_code"] for c in counties()]
# Rough population shares of the 22 counties, in counties.csv order.
COUNTY_WEIGHTS = np.array([11.0, 17.0, 9.7, 12.0, 8.0, 11.8, 1.9, 2.5, 2.3, 5.3, 2.1, 2.9,
                           2.1, 3.4, 0.9, 1.3, 0.5, 1.6, 1.9, 1.1, 0.6, 0.06])


def seasonal_weights(rng: np.random.Generator, start: int, end: int) -> np.ndarray:
    months = np.arange(start, end + 1)
    season = 1 + 0.15 * np.sin(2 * np.pi * ((months % 12) - 2) / 12)
    return season * rng.uniform(0.9, 1.1, size=len(months))


def monthly(rng, blocks: list[tuple[tuple[int, int], int]]) -> np.ndarray:
    """Totals per block of months → an exact monthly series over 2017-01..2025-09."""
    series = np.zeros(N_MONTHS, dtype=np.int64)
    for (start, end), total in blocks:
        series[start : end + 1] += split(int(total), seasonal_weights(rng, start, end))
    return series


def by_branch(rng, series: np.ndarray) -> np.ndarray:
    """Monthly series → (month, branch) counts, exact per month."""
    out = np.zeros((N_MONTHS, len(BRANCH_CODES)), dtype=np.int64)
    for m, total in enumerate(series):
        out[m] = split(int(total), BRANCH_WEIGHTS * rng.uniform(0.95, 1.05, len(BRANCH_CODES)))
    return out


def block_sum(arr: np.ndarray, block: tuple[int, int]) -> int:
    return int(arr[block[0] : block[1] + 1].sum())


def allocate_in_block(total: int, caps: dict[str, np.ndarray], block, names) -> dict:
    """Place `total` over the (month, branch) cells of `names` within `block`, ≤ caps."""
    s, e = block
    flat = np.concatenate([caps[n][s : e + 1].ravel() for n in names])
    parts = split_capped(total, flat)
    out, offset = {}, 0
    for n in names:
        size = caps[n][s : e + 1].size
        arr = np.zeros_like(caps[n])
        arr[s : e + 1] = parts[offset : offset + size].reshape(caps[n][s : e + 1].shape)
        out[n] = arr
        offset += size
    return out


def add(a: dict, b: dict) -> dict:
    return {k: a.get(k, 0) + b.get(k, 0) for k in set(a) | set(b)}


# --------------------------------------------------------------------------- training
TRAINING_CELLS = {
    # name: (programme, status, is_ict, is_youth)
    "u_yi": ("職前訓練", "失業者", True, True),
    "u_oi": ("職前訓練", "失業者", True, False),
    "u_yn": ("職前訓練", "失業者", False, True),
    "u_on": ("職前訓練", "失業者", False, False),
    "p_on": ("職前訓練", "在職者", False, False),
    "g_yi": ("青年職業訓練", "在學", True, True),
    "g_yn": ("青年職業訓練", "失業者", False, True),
    "w_yi": ("在職訓練", "在職者", True, True),
    "w_on": ("在職訓練", "在職者", False, False),
    "si": ("社會創新專案管理", "在職者", False, False),
}
RATE_52 = ["u_yi", "u_oi", "u_yn", "u_on"]  # 8.5.2: 職前訓練 + 失業者
YOUTH_TRAINING = ["g_yi", "g_yn"]  # 8.6.1 beyond the youth of RATE_52
COURSE_MONTHS = 3  # courses end three months after they start
OUTCOME_MONTHS = 3  # employment within three months is known three months later


@dataclass
class TrainingPlan:
    starts: dict[str, np.ndarray]  # cell → (month, branch) enrolments by start month
    withdrawn: dict[str, np.ndarray]
    disadvantaged: dict[str, np.ndarray]
    employed: dict[str, np.ndarray]  # completers with outcome Y, by start cell
    outcome_known: dict[str, np.ndarray]  # completers whose outcome is known


def _split_ab(total_ab: int, share_b: float) -> tuple[int, int]:
    b = round(total_ab * share_b)
    return total_ab - b, b


def training_plan(rng, scale: float) -> TrainingPlan:
    u = {A: 203_827, B: 41_152, C: 145_313, D: 34_140, E: 4_300}
    share_b = u[B] / (u[A] + u[B])
    ict_youth = dict(zip((A, B), _split_ab(14_536, share_b))) | {C: 13_165, D: 2_566, E: 300}
    ict_unemp = dict(zip((A, B), _split_ab(26_317, share_b))) | {C: 16_147, D: 3_499, E: 400}
    youth_86 = {A: 120_000, B: 39_320, C: 100_268, D: 12_755, E: 1_500}
    totals: dict[str, dict] = {name: {} for name in TRAINING_CELLS}
    for p in (A, B, C, D, E):
        t = totals
        t["u_yi"][p] = round(0.35 * ict_youth[p])
        t["g_yi"][p] = round(0.30 * ict_youth[p])
        t["w_yi"][p] = ict_youth[p] - t["u_yi"][p] - t["g_yi"][p]
        t["u_oi"][p] = ict_unemp[p] - t["u_yi"][p]
        t["u_yn"][p] = round(0.30 * u[p])
        t["u_on"][p] = u[p] - t["u_yi"][p] - t["u_oi"][p] - t["u_yn"][p]
        t["g_yn"][p] = youth_86[p] - t["u_yi"][p] - t["u_yn"][p] - t["g_yi"][p]
        months = p[1] - p[0] + 1
        t["p_on"][p] = round(60 * months)
        t["w_on"][p] = round(800 * months)
    si_blocks = [((0, 11), 200), ((12, B[1]), 1_014), (C, 590), (D, 45), (E, 5)]
    starts = {}
    for name in TRAINING_CELLS:
        blocks = si_blocks if name == "si" else list(totals[name].items())
        if name in ("p_on", "w_on"):
            blocks = [(p, round(t * scale)) for p, t in blocks]
        starts[name] = by_branch(rng, monthly(rng, blocks))
    if scale != 1:
        starts = _scaled(rng, starts, scale, keep=("p_on", "w_on"))

    withdrawn = {n: (a * 11) // 100 for n, a in starts.items()}
    # A course that started less than COURSE_MONTHS before the data ends is still running.
    for a in withdrawn.values():
        a[N_MONTHS - COURSE_MONTHS :] = 0
    completers = {n: starts[n] - withdrawn[n] for n in starts}
    cutoff = N_MONTHS - COURSE_MONTHS - OUTCOME_MONTHS  # first start month without outcome
    known = {}
    for n, a in completers.items():
        known[n] = a.copy()
        known[n][cutoff:] = 0

    dis_u = {A: 119_651, B: 24_157, C: 87_010, D: 32_780, E: 2_500}
    disadvantaged = {n: np.zeros_like(a) for n, a in starts.items()}
    if scale == 1:
        dis_blocks = [((A[0], B[1]), dis_u[A] + dis_u[B]), (C, dis_u[C]), (D, dis_u[D]), (E, dis_u[E])]
    else:
        dis_blocks = [(p, round(v * scale)) for p, v in dis_u.items()]
    for block, total in dis_blocks:
        disadvantaged = add(disadvantaged, allocate_in_block(total, starts, block, RATE_52))
    employed = _training_outcomes(known, scale)
    return TrainingPlan(starts, withdrawn, disadvantaged, employed, known)


def _by_end(block):
    """Start months whose courses end within `block`."""
    return (block[0] - COURSE_MONTHS, block[1] - COURSE_MONTHS)


def _training_outcomes(known: dict, scale: float) -> dict:
    """Employed-within-3-months counts, exact for 8.5.2 and 8.6.1 in 2021 and 2021-2024."""
    employed = {n: np.zeros_like(a) for n, a in known.items()}
    first_end = (COURSE_MONTHS, B[0] - 1)  # courses ending 2017-04 .. 2020-12
    late_end = (C[1] + 1, N_MONTHS - 1)
    y52_b = y52_c = None  # exact only at the calibrated scale
    if scale == 1:
        y52_b = exact_numerator(0.8388, block_sum(_sum(known, RATE_52), _by_end(B)), 4)
        e52_bc = block_sum(_sum(known, RATE_52), _by_end((B[0], C[1])))
        y52_c = exact_numerator(0.8413, e52_bc, 4) - y52_b
    plan52 = [(first_end, None, 0.82), (B, y52_b, None), (C, y52_c, None), (late_end, None, 0.84)]
    for block, total, rate in plan52:
        start_block = _by_end(block)
        if total is None or scale != 1:
            total = round(block_sum(_sum(known, RATE_52), start_block) * (rate or 0.84))
        employed = add(employed, allocate_in_block(total, known, start_block, RATE_52))

    youth52 = ["u_yi", "u_yn"]
    for block, rate, cumulative_from in ((B, 0.8702, None), (C, 0.8799, B)):
        start_block = _by_end(block)
        known_block = _by_end((cumulative_from or block)[0:1] + block[1:])
        e86 = block_sum(_sum(known, youth52 + YOUTH_TRAINING), known_block)
        y_youth52 = block_sum(_sum(employed, youth52), known_block)
        y_g_before = block_sum(_sum(employed, YOUTH_TRAINING), known_block)
        if scale == 1:
            total = exact_numerator(rate, e86, 4) - y_youth52 - y_g_before
        else:  # only the calibrated scale has to hit the published rate exactly
            total = round(block_sum(_sum(known, YOUTH_TRAINING), start_block) * rate)
        employed = add(employed, allocate_in_block(total, known, start_block, YOUTH_TRAINING))
    for block in (first_end, late_end):
        start_block = _by_end(block)
        total = round(block_sum(_sum(known, YOUTH_TRAINING), start_block) * 0.86)
        employed = add(employed, allocate_in_block(total, known, start_block, YOUTH_TRAINING))
    others = [n for n in known if n not in RATE_52 + YOUTH_TRAINING]
    all_block = (0, N_MONTHS - 1)
    employed = add(employed, allocate_in_block(
        round(block_sum(_sum(known, others), all_block) * 0.7), known, all_block, others))
    return employed


def _sum(cells: dict, names) -> np.ndarray:
    return sum(cells[n] for n in names).sum(axis=1)


def _scaled(rng, cells: dict, scale: float, keep=()) -> dict:
    return {n: (a if n in keep else np.round(a * scale).astype(np.int64)) for n, a in cells.items()}


# ------------------------------------------------------------------ employment services
PES_CELLS = {
    # name: (target group written, is_youth, placed?)
    "y_p": ("", True, "same_month"),
    "y_l": ("", True, "next_month"),
    "y_u": ("", True, None),
    "d_p": ("身心障礙者", False, "same_month"),
    "d_u": ("身心障礙者", False, None),
    "l_p": ("低收入戶", False, "same_month"),
    "l_u": ("中低收入戶", False, None),
    "g_p": ("施用毒品者", False, "same_month"),
    "g_u": ("施用毒品者", False, None),
}
TRACKED = ("d_p", "l_p", "g_p")  # target-group placements followed up for stable_3m
STABLE_MONTHS = 3


@dataclass
class PesPlan:
    registered: dict[str, np.ndarray]  # cell → (registration month, branch)
    stable: dict[str, np.ndarray]  # cell → stable_3m = Y among placements


def pes_plan(rng, scale: float) -> PesPlan:
    youth = monthly(rng, [(A, 680_000), (B, 196_778), (C, 636_362), (D, 154_722), (E, 19_000)])
    lagged = np.round(youth * 0.1).astype(np.int64)
    lagged[0] = 0
    y_l = np.zeros_like(youth)
    y_l[:-1] = lagged[1:]  # registered in m, placed in m + 1
    reg = {"y_p": youth - lagged, "y_l": y_l, "y_u": np.round(youth * 0.08).astype(np.int64)}

    d_place = {A: 68_000, B: 19_795, C: 65_494, D: 16_412, E: 2_000}
    d_reg = {A: round(68_000 / 0.77), E: round(2_000 / 0.77)}
    d_reg[B] = _denominator(d_place[B], 0.7824)
    d_reg[C] = _denominator(d_place[B] + d_place[C], 0.7912) - d_reg[B]
    d_reg[D] = _denominator(d_place[D], 0.7750)
    reg["d_p"] = monthly(rng, list(d_place.items()))
    reg["d_u"] = monthly(rng, [(p, d_reg[p] - d_place[p]) for p in d_place])
    reg["l_p"] = monthly(rng, [(A, 66_752), (B, 16_000), (C, 57_344), (D, 12_868), (E, 1_600)])
    reg["l_u"] = np.round(reg["l_p"] * 0.45).astype(np.int64)

    y2017, y2018 = (0, 11), (12, 23)
    q19, q4_19, y2020 = (24, 32), (33, 35), (36, 47)
    drug = [  # block: registrations, placements, stable_3m
        (y2017, 3_400, 1_300, 370), (y2018, 3_624, 1_472, 411), (q19, 2_660, 983, 334),
        (q4_19, 880, 330, 110), (y2020, 3_500, 1_350, 400), ((B[0], C[1]), 14_400, 5_600, 1_680),
        (D, 2_400, 930, 280), (E, 300, 115, 0),
    ]
    reg["g_p"] = monthly(rng, [(b, p) for b, _, p, _ in drug])
    reg["g_u"] = monthly(rng, [(b, r - p) for b, r, p, _ in drug])
    registered = {n: by_branch(rng, s) for n, s in reg.items()}
    if scale != 1:
        registered = _scaled(rng, registered, scale)

    stable = {n: np.zeros_like(a) for n, a in registered.items()}
    known_until = N_MONTHS - STABLE_MONTHS  # placements after this have no follow-up yet
    for block, _, _, s in drug:
        if scale != 1:
            s = round(s * scale)
        stable = add(stable, allocate_in_block(s, registered, block, ["g_p"]))
    for n in ("d_p", "l_p"):
        block = (0, known_until - 1)
        total = round(block_sum(registered[n].sum(axis=1), block) * 0.55)
        stable = add(stable, allocate_in_block(total, registered, block, [n]))
    return PesPlan(registered, stable)


def _denominator(numerator: int, rate: float) -> int:
    d = round(numerator / rate)
    for candidate in (d, d - 1, d + 1, d - 2, d + 2):
        if round(numerator / candidate, 4) == round(rate, 4):
            return candidate
    raise ValueError(f"no denominator gives {rate} for {numerator}")


# ------------------------------------------------------------------ programme tallies
TALLY_UNITS = {  # measure_code → owner unit
    "STARTUP_WORKSHOPS": "WDA",
    "STARTUP_CONSULTATIONS": "WDA",
    "MICROLOAN_APPROVALS": "WDA",
    "UNION_FEMALE_CADRES_TRAINED": "DLR",
    "EQUALITY_WEB_VISITS": "DLSEE",
}


def tally_plan(rng) -> dict[str, np.ndarray]:
    ab = (A[0], B[1])
    return {
        "STARTUP_WORKSHOPS": monthly(rng, [(ab, 758), (C, 573), (D, 121), (E, 15)]),
        "STARTUP_CONSULTATIONS": monthly(rng, [(ab, 21_598), (C, 14_061), (D, 2_973), (E, 370)]),
        "MICROLOAN_APPROVALS": monthly(rng, [(A, 2_183), (B, 468), (C, 1_677), (D, 298), (E, 37)]),
        "UNION_FEMALE_CADRES_TRAINED": monthly(rng, [(ab, 373), (C, 218), (D, 45), (E, 6)]),
        # 10.3.1 = 500,000 opening balance + visits; published in 萬人次.
        "EQUALITY_WEB_VISITS": monthly(rng, [(ab, 1_501_234), (C, 2_801_111), (D, 272_000),
                                             (E, 34_000)]),
    }


# ------------------------------------------------------------------ labour insurance
def _path(anchors: dict[int, float]) -> np.ndarray:
    """A smooth national series through anchor months (log-linear between them)."""
    months = sorted(anchors)
    return np.exp(np.interp(np.arange(N_MONTHS), months, np.log([anchors[m] for m in months])))


def labour_insurance_plan(rng) -> dict[str, np.ndarray]:
    """measure_code → (month, county) values; stocks at month-end, cases in the month."""
    dec21, dec24, jul25 = month_index(2021, 12), month_index(2024, 12), month_index(2025, 7)
    stock_paths = {
        "ANNUITY_RECIPIENTS": {0: 1_050_000, dec21: 1_536_268, dec24: 1_931_013,
                               jul25: 2_020_057, LAST: 2_045_000},
        "INSURED_OA_ONLY": {0: 340_000, dec21: 432_553, dec24: 568_977, jul25: 592_745,
                            LAST: 598_000},
        "INSURED_LI": {0: 10_250_000, dec21: 10_520_000, LAST: 10_690_000},
        "INSURED_OA": {0: 10_560_000, dec21: 10_900_000, LAST: 11_230_000},
    }
    out = {}
    for code, anchors in stock_paths.items():
        national = np.round(_path(anchors) * rng.uniform(0.999, 1.001, N_MONTHS))
        for m, value in anchors.items():
            national[m] = value  # published month-ends are exact
        out[code] = _by_county(rng, national)
    insured = out["INSURED_OA"].sum(axis=1)
    death_rates = {2017: 0.026, 2018: 0.025, 2019: 0.024, 2020: 0.023, 2021: 0.021,
                   2022: 0.023, 2023: 0.022, 2024: 0.022}
    injury_rates = {2017: 2.71, 2018: 2.65, 2019: 2.58, 2020: 2.50, 2021: 2.448,
                    2022: 2.41, 2023: 2.38, 2024: 2.353}
    deaths, injuries = [], []
    for year in range(2017, 2025):
        block = (month_index(year, 1), month_index(year, 12))
        mean = insured[block[0] : block[1] + 1].mean()
        d = _per_1000_numerator(death_rates[year], mean)
        i = _per_1000_numerator(injury_rates[year], mean)
        deaths.append((block, d))
        injuries.append((block, i))
    deaths += [(D, 168), (E, 20)]
    injuries += [(D, 17_300), (E, 2_150)]
    out["OA_DEATHS"] = _by_county(rng, monthly(rng, deaths))
    out["OA_DISABILITY_INJURY"] = _by_county(rng, monthly(rng, injuries))
    return out


def _per_1000_numerator(rate: float, mean_insured: float) -> int:
    n = round(rate * mean_insured / 1000)
    for candidate in (n, n - 1, n + 1):
        if round(candidate / mean_insured * 1000, 3) == rate:
            return candidate
    raise ValueError(f"no case count gives {rate} per 1000 of {mean_insured}")


def _by_county(rng, national: np.ndarray) -> np.ndarray:
    out = np.zeros((N_MONTHS, len(COUNTY_CODES)), dtype=np.int64)
    for m, total in enumerate(national):
        out[m] = split(int(total), COUNTY_WEIGHTS * rng.uniform(0.98, 1.02, len(COUNTY_CODES)))
    return out


# ------------------------------------------------------------------ county submissions
FIRST_SUBMISSION_YEAR = 2018
COVERAGE = {2018: 0.55, 2019: 0.61, 2020: 0.68, 2021: 0.72, 2022: 0.7652, 2023: 0.86,
            2024: 0.9490, 2025: 0.95}


def county_submission_plan(rng) -> list[dict]:
    """One dict per county-quarter with the 縣市季報 fields (canonical names)."""
    rows = []
    quarters = [(y, q) for y in range(FIRST_SUBMISSION_YEAR, 2026) for q in range(1, 5)
                if (y, q) <= (2025, 3)]
    n = len(COUNTY_CODES)
    approved_base = split(1_300, COUNTY_WEIGHTS)
    for year in range(FIRST_SUBMISSION_YEAR, 2026):
        year_quarters = [q for y, q in quarters if y == year]
        referred = split(3_000 * len(year_quarters), np.outer(
            rng.uniform(0.9, 1.1, len(year_quarters)), COUNTY_WEIGHTS))
        referred = np.maximum(referred, 1)
        total_referred = int(referred.sum())
        # Only the published years (2022, 2024) need an exact ratio; the rest are plausible.
        joint_total = (exact_numerator(COVERAGE[year], total_referred, 4) if year in (2022, 2024)
                       else round(COVERAGE[year] * total_referred))
        jointly = split_capped(joint_total, referred)
        new_cases = split(1_627 if year == 2024 else 420 * len(year_quarters), referred)
        for qi, quarter in enumerate(year_quarters):
            staffed = _staffing(rng, year, quarter, approved_base)
            for ci, code in enumerate(COUNTY_CODES):
                r, j = int(referred[qi, ci]), int(jointly[qi, ci])
                placed = round(j * 0.35)
                participants = round(r * 0.1)
                rows.append({
                    "county_code": code, "year": year, "quarter": quarter,
                    "referred_willing": r, "jointly_served": j,
                    "new_joint_cases": int(new_cases[qi, ci]), "placed": placed,
                    "stable_3m": round(placed * 0.6),
                    "matched_savings_participants": participants,
                    "matched_savings_amount": participants * 2_000 * 3,
                    "sw_posts_approved": int(staffed[0][ci]), "sw_posts_filled": int(staffed[1][ci]),
                })
    assert len(rows) == len(quarters) * n
    return rows


def _staffing(rng, year: int, quarter: int, base: np.ndarray):
    """(approved, filled) posts at the quarter end: 0.854 filled at 2020Q4, all in 2024Q4."""
    step = (year - FIRST_SUBMISSION_YEAR) * 4 + quarter - 1
    approved = np.round(base * (1 + 0.05 * step)).astype(np.int64)
    if (year, quarter) == (2020, 4):
        filled = split_capped(exact_numerator(0.854, int(approved.sum()), 3), approved)
    elif year >= 2024 and quarter == 4 or year == 2025:
        filled = approved.copy()
    else:
        rate = min(0.98, 0.70 + 0.02 * step)
        filled = split_capped(round(approved.sum() * rate), approved)
    return approved, filled
