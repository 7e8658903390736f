"""The calibrated sample tests the youth rule at its edges: every age of the youth range and
of the range above it, the registry's bounds included, and births whose birthday falls on
the event's own day (the day a year is completed)."""

import random
from collections import Counter
from datetime import date, timedelta

from dateutil.relativedelta import relativedelta

from dagster_project.config import REGISTRY_FILE
from dagster_project.lib.registry import parameters
from dagster_project.sample.generate import birth_for


def test_births_cover_every_age_of_both_ranges_the_bounds_and_the_birthday_itself():
    bounds = parameters(REGISTRY_FILE).set_index("name")["value"]
    first, last = int(bounds["youth_min_age"]), int(bounds["youth_max_age"])
    rng = random.Random(20261201)
    events = [date(2017, 1, 1) + timedelta(days=d) for d in range(0, 3653, 5)]
    events += [date(2020, 2, 29), date(2024, 2, 29), date(2025, 2, 28), date(2025, 3, 1)]
    ages = {True: Counter(), False: Counter()}
    on_the_day = Counter()
    for event in events:
        for youth in (True, False):
            for _ in range(30):
                birth = birth_for(event, youth, rng)
                assert (birth.month, birth.day) != (2, 29), (event, birth)
                age = relativedelta(event, birth).years  # completed years, another reckoning
                ages[youth][age] += 1
                if (birth.month, birth.day) == (event.month, event.day):
                    on_the_day[youth, age] += 1
    assert set(ages[True]) == set(range(first, last + 1))
    assert set(ages[False]) == set(range(last + 1, 65))
    # the ages either side of each bound, on the very day the year is completed
    assert on_the_day[True, first] and on_the_day[True, last] and on_the_day[False, last + 1]
