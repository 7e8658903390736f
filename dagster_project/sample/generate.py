"""`tsdg sample`: write calibrated synthetic sources in the landing layout of DOMAIN.md §3.

Records are produced group by group — (cell, month, branch) — from a seeded RNG, so a
group can be produced again identically when a later file repeats it; nothing holds the
whole data set in memory.
"""

import calendar
import json
import multiprocessing
import os
import random
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path

import numpy as np
from openpyxl import Workbook

from dagster_project.config import REGISTRY_FILE
from dagster_project.lib.national_id import with_check_digit
from dagster_project.lib.reference import counties
from dagster_project.lib.registry import parameters
from dagster_project.lib.source_contract import family_names
from dagster_project.sample import plan as P
from dagster_project.sample.allocate import N_MONTHS, year_month
from dagster_project.sample.mess import Mess, mess_for

ROSTER_HEADER = ["分署代碼", "班別代碼", "訓練計畫", "資通訊類", "身分證統一編號", "出生日期", "性別",
                 "參訓身分", "特定對象身分", "戶籍縣市", "開訓日期", "結訓日期", "訓練狀態",
                 "訓後三個月內就業"]
PES_HEADER = ["分署代碼", "案號", "身分證統一編號", "出生日期", "戶籍縣市", "特定對象身分",
              "求職登記日期", "推介就業日期", "穩定就業滿三個月"]
LI_HEADER = ["統計年月", "縣市", "項目代碼", "數值"]
TALLY_HEADER = ["統計年月", "單位", "項目代碼", "數值"]
COUNTY_HEADER = ["縣市", "年度", "季別", "有就業意願轉介人數", "社勞政聯合服務人數", "新增共案數",
                 "推介就業人數", "穩定就業三個月人數", "相對存款參與人數", "相對存款配合款金額",
                 "社工核定員額", "社工進用人數", "填報日期"]
DISADVANTAGED = ["獨力負擔家計者", "中高齡者", "身心障礙者", "原住民", "低收入戶", "中低收入戶",
                 "長期失業者", "二度就業婦女", "家庭暴力被害人", "更生受保護人", "新住民"]
ID_LETTERS = "ABCDEFGHJKMNPQTUVXZ"


def roc_quarter(m: int) -> tuple[int, int]:
    year, month = year_month(m)
    return year - 1911, (month - 1) // 3 + 1


def partition_of(m: int) -> str:
    year, month = year_month(m)
    return f"{year}Q{(month - 1) // 3 + 1}"


def _between(rng: random.Random, lo: int, hi: int) -> int:
    """randint without its overhead (it dominates generation time)."""
    return lo + int(rng.random() * (hi - lo + 1))


@cache
def _month_length(m: int) -> tuple[int, int, int]:
    year, month = year_month(m)
    return year, month, calendar.monthrange(year, month)[1]


def day_in(m: int, rng: random.Random, lo: int = 1, hi: int = 31) -> date:
    year, month, last = _month_length(m)
    return date(year, month, _between(rng, lo, min(hi, last)))


@cache
def _youth_ages() -> tuple[int, int]:
    ages = parameters(REGISTRY_FILE).set_index("name")["value"]
    return int(ages["youth_min_age"]), int(ages["youth_max_age"])


def completed_years(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def birth_for(event: date, youth: bool, rng: random.Random) -> date:
    """A birth date whose age in completed years on `event` is youth (the registry's bounds,
    both included) or not youth (from the year after it to 64). Every age of each range is
    drawn, the bounds too, and one birth in 365 falls on the event's own day of the year
    (the birthday that completes the year): the sample tests the youth rule at its edges —
    counting youth as 15–30 changes figures. A 29 February birth, whose birthday in a
    common year conventions place differently, is moved to 28 February or 1 March,
    whichever keeps the age."""
    first, last = _youth_ages()
    age = _between(rng, first, last) if youth else _between(rng, last + 1, 64)
    try:
        anniversary = event.replace(year=event.year - age)
    except ValueError:  # an event on 29 February, `age` years after a common year
        anniversary = date(event.year - age, 2, 28)
    birth = anniversary - timedelta(days=_between(rng, 0, 364))
    if (birth.month, birth.day) == (2, 29):
        earlier = birth - timedelta(days=1)
        birth = earlier if completed_years(earlier, event) == age else birth + timedelta(days=1)
    return birth


def national_id(rng: random.Random) -> str:
    second = "89"[rng.random() < 0.5] if rng.random() < 0.02 else "12"[rng.random() < 0.5]
    letter = ID_LETTERS[int(rng.random() * len(ID_LETTERS))]
    return with_check_digit(letter, second + f"{int(rng.random() * 10**7):07d}")


class Writer:
    """A CSV file written row by row in its sender's encoding and line endings."""

    def __init__(self, path: Path, mess: Mess, header: list[str]):
        path.parent.mkdir(parents=True, exist_ok=True)
        newline = "\r\n" if mess.crlf else "\n"
        self.file = open(path, "w", encoding=mess.encoding, newline=newline)
        self.rows = 0
        self.file.write(",".join(header) + "\n")

    def write(self, fields) -> None:
        self.file.write(",".join(fields) + "\n")
        self.rows += 1

    def close(self) -> int:
        self.file.close()
        return self.rows


class Sample:
    def __init__(self, out: Path, scale: float, seed: int):
        self.out, self.scale, self.seed = out, scale, seed
        self.rng = np.random.default_rng(seed)
        self.rows: Counter = Counter()  # (family, partition) → rows written
        self.keys: Counter = Counter()  # family → distinct natural keys
        counties_by_branch: dict[str, list[str]] = {}
        for c in counties():
            counties_by_branch.setdefault(c["branch_code"], []).append(c["name_zh"])
        self.counties_by_branch = counties_by_branch

    # ---------------------------------------------------------------- training rosters
    def _enrolments(self, plan: P.TrainingPlan, cell: str, m: int, b: int):
        n = int(plan.starts[cell][m, b])
        if n == 0:
            return []
        branch = P.BRANCH_CODES[b]
        programme, status, is_ict, youth = P.TRAINING_CELLS[cell]
        rng = random.Random(f"{self.seed}:T:{cell}:{m}:{b}")
        order = list(range(n))
        rng.shuffle(order)
        withdrawn = set(order[: int(plan.withdrawn[cell][m, b])])
        rest = order[int(plan.withdrawn[cell][m, b]):]
        employed = set(rest[: int(plan.employed[cell][m, b])])
        known = set(rest[: int(plan.outcome_known[cell][m, b])])
        rng.shuffle(order)
        disadvantaged = set(order[: int(plan.disadvantaged[cell][m, b])])
        year, month = year_month(m)
        records = []
        for i in range(n):
            start = day_in(m, rng, 1, 28)
            groups = rng.sample(DISADVANTAGED, rng.randint(1, 2)) if i in disadvantaged else []
            if i in withdrawn:
                end, final = day_in(m + 1, rng) if m + 1 < N_MONTHS else None, "退訓"
            else:
                end, final = (day_in(m + P.COURSE_MONTHS, rng), "結訓") \
                    if m + P.COURSE_MONTHS < N_MONTHS else (None, "在訓")
            outcome = ("Y" if i in employed else "N") if i in known else ""
            records.append((
                branch, f"{branch}{year - 1911}{month:02d}{cell.upper()}{i // 25:03d}",
                programme, "Y" if is_ict else "N", national_id(rng),
                birth_for(start, youth, rng), "男女"[rng.random() < 0.5], status, groups,
                rng.choice(self.counties_by_branch[branch]), start, end, final, outcome,
            ))
        return records

    def _roster_row(self, r, mess: Mess, final: bool):
        branch, course, programme, ict, nid, birth, sex, status, groups, county, start, end, \
            final_status, outcome = r
        if not final:
            end, final_status, outcome = None, "在訓", ""
        return (branch, course, programme, ict, nid, mess.date(birth), sex, status,
                mess.group_separator.join(groups), mess.county(county), mess.date(start),
                mess.date(end), final_status, outcome)

    @staticmethod
    def _update_month(m: int) -> int | None:
        """The month an enrolment's final state is reported: outcome known, else course end."""
        for lag in (P.COURSE_MONTHS + P.OUTCOME_MONTHS, P.COURSE_MONTHS):
            if m + lag < N_MONTHS:
                return m + lag
        return None

    def training_rosters(self, plan: P.TrainingPlan) -> None:
        updates: dict[int, list[int]] = {}  # update month → start months reported then
        for m in range(N_MONTHS):
            u = self._update_month(m)
            if u is not None and partition_of(u) != partition_of(m):
                updates.setdefault(u, []).append(m)
        for q_start in range(0, N_MONTHS, 3):
            months = range(q_start, min(q_start + 3, N_MONTHS))
            roc, quarter = roc_quarter(q_start)
            for b, branch in enumerate(P.BRANCH_CODES):
                name = f"roster_{roc}Q{quarter}_{branch}.csv"
                mess = mess_for(self.seed, name)
                w = Writer(self.out / "training_rosters" / name, mess, ROSTER_HEADER)
                for m in months:
                    for cell in P.TRAINING_CELLS:
                        for r in self._enrolments(plan, cell, m, b):
                            w.write(self._roster_row(r, mess, final=self._update_month(m) in months))
                            self.keys["training_rosters"] += 1
                for u in months:
                    for m in updates.get(u, []):
                        for cell in P.TRAINING_CELLS:
                            for r in self._enrolments(plan, cell, m, b):
                                w.write(self._roster_row(r, mess, final=True))
                self.rows["training_rosters", partition_of(q_start)] += w.close()

    # ---------------------------------------------------------------- employment services
    def _episodes(self, plan: P.PesPlan, cell: str, m: int, b: int):
        n = int(plan.registered[cell][m, b])
        if n == 0:
            return []
        branch = P.BRANCH_CODES[b]
        group, youth, placed = P.PES_CELLS[cell]
        rng = random.Random(f"{self.seed}:E:{cell}:{m}:{b}")
        order = list(range(n))
        rng.shuffle(order)
        stable = set(order[: int(plan.stable[cell][m, b])])
        year, month = year_month(m)
        episodes = []
        for i in range(n):
            if placed == "next_month":
                registered = day_in(m, rng, 20, 31)
                placement = day_in(m + 1, rng, 1, 15)
            else:
                registered = day_in(m, rng, 1, 20)
                placement = registered + timedelta(days=rng.randint(0, 7)) if placed else None
            if cell == "l_p" and rng.random() < 0.3:
                group_text = ["中低收入戶"]
            else:
                group_text = [group] if group else []
            tracked = cell in P.TRACKED and m + P.STABLE_MONTHS < N_MONTHS
            episodes.append((
                branch, f"{branch}{year}{month:02d}{cell.upper()}{i:06d}", national_id(rng),
                birth_for(placement or registered, youth, rng),
                rng.choice(self.counties_by_branch[branch]), group_text, registered, placement,
                ("Y" if i in stable else "N") if tracked else "",
            ))
        return episodes

    def _pes_row(self, e, mess: Mess, as_of_month: int):
        branch, case, nid, birth, county, groups, registered, placement, stable = e
        if placement and (placement.year, placement.month) > year_month(as_of_month):
            placement = None
        if not self._stable_known(registered, as_of_month):
            stable = ""
        return (branch, case, nid, mess.date(birth), mess.county(county),
                mess.group_separator.join(groups), mess.date(registered), mess.date(placement),
                stable)

    @staticmethod
    def _stable_known(registered: date, as_of_month: int) -> bool:
        m = (registered.year - 2017) * 12 + registered.month - 1
        return m + P.STABLE_MONTHS <= as_of_month

    def employment_services(self, plan: P.PesPlan) -> None:
        for q_start in range(0, N_MONTHS, 3):
            months = range(q_start, min(q_start + 3, N_MONTHS))
            q_end = months[-1]
            roc, quarter = roc_quarter(q_start)
            for b, branch in enumerate(P.BRANCH_CODES):
                name = f"pes_{roc}Q{quarter}_{branch}.csv"
                mess = mess_for(self.seed, name)
                w = Writer(self.out / "employment_services" / name, mess, PES_HEADER)
                for m in months:
                    for cell in P.PES_CELLS:
                        for e in self._episodes(plan, cell, m, b):
                            w.write(self._pes_row(e, mess, q_end))
                            self.keys["employment_services"] += 1
                # Episodes of earlier quarters that were placed or followed up in this one.
                if q_start > 0:
                    for e in self._episodes(plan, "y_l", q_start - 1, b):
                        w.write(self._pes_row(e, mess, q_end))
                for m in months:
                    follow_up = m - P.STABLE_MONTHS
                    if follow_up >= 0:
                        for cell in P.TRACKED:
                            for e in self._episodes(plan, cell, follow_up, b):
                                w.write(self._pes_row(e, mess, q_end))
                self.rows["employment_services", partition_of(q_start)] += w.close()

    # ---------------------------------------------------------------- aggregated families
    def labour_insurance(self, values: dict[str, np.ndarray]) -> None:
        names = [c["name_zh"] for c in counties()]
        for m in range(N_MONTHS):
            year, month = year_month(m)
            name = f"bli_{year - 1911}{month:02d}.csv"
            mess = mess_for(self.seed, name)
            w = Writer(self.out / "labour_insurance" / name, mess, LI_HEADER)
            for code, arr in values.items():
                for ci, county in enumerate(names):
                    w.write((f"{year - 1911}{month:02d}", mess.county(county), code,
                             mess.count(int(arr[m, ci]))))
            self.rows["labour_insurance", partition_of(m)] += w.close()
            self.keys["labour_insurance"] += w.rows

    def programme_tallies(self, series: dict[str, np.ndarray]) -> None:
        for year in range(2017, 2026):
            for unit in sorted(set(P.TALLY_UNITS.values())):
                name = f"tally_{unit}_{year - 1911}.csv"
                mess = mess_for(self.seed, name)
                w = Writer(self.out / "programme_tallies" / name, mess, TALLY_HEADER)
                for m in range((year - 2017) * 12, min((year - 2016) * 12, N_MONTHS)):
                    for code, owner in P.TALLY_UNITS.items():
                        if owner == unit:
                            w.write((f"{year - 1911}{m % 12 + 1:02d}", mess.unit(unit), code,
                                     mess.count(int(series[code][m]))))
                            self.rows["programme_tallies", partition_of(m)] += 1
                self.keys["programme_tallies"] += w.close()

    def county_submissions(self, plan: list[dict]) -> None:
        names = {c["county_code"]: c["name_zh"] for c in counties()}
        for row in plan:
            roc = row["year"] - 1911
            stem = f"{row['county_code']}_{roc}Q{row['quarter']}"
            mess = mess_for(self.seed, stem)
            submitted = date(row["year"], row["quarter"] * 3, 1) + timedelta(days=45)
            values = [mess.county(names[row["county_code"]]), str(roc), str(row["quarter"]),
                      *(mess.count(row[k]) for k in (
                          "referred_willing", "jointly_served", "new_joint_cases", "placed",
                          "stable_3m", "matched_savings_participants", "matched_savings_amount",
                          "sw_posts_approved", "sw_posts_filled")),
                      mess.date(submitted)]
            folder = self.out / "county_submissions"
            folder.mkdir(parents=True, exist_ok=True)
            if mess.encoding == "cp950":  # county offices that send workbooks
                self._workbook(folder / f"{stem}.xlsx", values, title=mess.crlf)
            else:
                w = Writer(folder / f"{stem}.csv", mess, COUNTY_HEADER)
                w.write(values)
                w.close()
            self.rows["county_submissions", f"{row['year']}Q{row['quarter']}"] += 1
            self.keys["county_submissions"] += 1

    @staticmethod
    def _workbook(path: Path, values: list[str], title: bool) -> None:
        wb = Workbook()
        ws = wb.active
        ws.title = "填報表"
        if title:
            ws.append(["強化社會安全網 社勞政聯合服務 縣市季報"])
        ws.append(COUNTY_HEADER)
        ws.append([v.strip('"') for v in values])
        wb.save(path)

    def plans(self) -> dict:
        """Every family's plan, drawn from the seeded RNG in this order (the sample depends
        on it)."""
        return {"programme_tallies": P.tally_plan(self.rng),
                "labour_insurance": P.labour_insurance_plan(self.rng),
                "county_submissions": P.county_submission_plan(self.rng),
                "training_rosters": P.training_plan(self.rng, self.scale),
                "employment_services": P.pes_plan(self.rng, self.scale)}

    def write_all(self, progress=print) -> dict:
        plans = self.plans()
        # The two person-level families are most of the work (a Python pass per record) and
        # independent of each other: the training rosters are written by a process of their
        # own (spawned, not forked: the caller may be a process with threads, e.g. a test's)
        # while this one writes the rest. Records come from seeded generators per group, so
        # the files are the same whichever finishes first.
        aside = "training_rosters"
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            written = pool.submit(_write_family, self.out, self.scale, self.seed, aside,
                                  plans[aside])
            progress(f"sample: writing {aside} (in a process of its own) …")
            for family in plans:
                if family != aside:
                    progress(f"sample: writing {family} …")
                    getattr(self, family)(plans[family])
            rows, keys = written.result()
            self.rows.update(rows)
            self.keys.update(keys)
        stamp_delivery_times(self.out)
        keys = {f: self.keys[f] for f in plans if f in self.keys}  # in the families' order
        manifest = {
            "scale": self.scale, "seed": self.seed,
            "rows_per_partition": {f"{f}/{p}": n for (f, p), n in sorted(self.rows.items())},
            "distinct_records": keys,
            "rows_per_family": {f: sum(n for (g, _), n in self.rows.items() if g == f)
                                for f in keys},
        }
        (self.out / "sample_manifest.json").write_text(json.dumps(manifest, indent=1))
        return manifest


def _write_family(out: Path, scale: float, seed: int, family: str, plan) -> tuple:
    """One family's files, in a process of its own: (rows per partition, distinct records)."""
    sample = Sample(out, scale, seed)
    getattr(sample, family)(plan)
    return sample.rows, sample.keys


def stamp_delivery_times(out: Path, days_after: int = 20) -> None:
    """Each file's modification time is when it 'landed' (the warehouse's received_at):
    some days after its period closed, so the sample's submissions are all on time."""
    from dagster_project.ingest.files import landed_files
    from dagster_project.ingest.lifecycle import identity

    for family in family_names():
        for landed in landed_files(out, family)[0]:
            period = identity(landed)[1]
            if "Q" in period:
                year, quarter = int(period[:4]), int(period[-1])
                after = date(year + quarter // 4, quarter * 3 % 12 + 1, 1)
            elif "-" in period:
                year, month = int(period[:4]), int(period[5:])
                after = date(year + month // 12, month % 12 + 1, 1)
            else:
                after = date(int(period) + 1, 1, 1)  # the day after the period closed
            landed_on = datetime.combine(after + timedelta(days=days_after - 1), time(9), UTC)
            os.utime(landed.path, (landed_on.timestamp(), landed_on.timestamp()))


def generate(out: Path, scale: float = 1.0, seed: int = 20250923, progress=print) -> dict:
    return Sample(Path(out), scale, seed).write_all(progress)
