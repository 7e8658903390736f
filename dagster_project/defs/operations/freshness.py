"""Freshness: the published release should not be older than a quarter and its deadline."""

import os
from datetime import timedelta

import dagster as dg

from dagster_project.defs.publish.assets import release

MAX_AGE_DAYS = int(os.environ.get("TSDG_RELEASE_MAX_AGE_DAYS", "140"))

release_freshness_checks = dg.build_last_update_freshness_checks(
    assets=[release], lower_bound_delta=timedelta(days=MAX_AGE_DAYS),
    severity=dg.AssetCheckSeverity.WARN)
release_freshness_sensor = dg.build_sensor_for_freshness_checks(
    freshness_checks=release_freshness_checks, name="release_freshness_sensor")
