"""The UI check: a real `dagster dev` on 127.0.0.1 serves the assets, checks, schedule and
sensors through its GraphQL API (the screenshot in the README comes from the same
script: python -m dagster_project.ui_check --screenshot docs/ui/asset_graph.png)."""

import pytest

from dagster_project.lib.source_contract import family_names
from dagster_project.ui_check import dagster_dev, inventory

pytestmark = pytest.mark.tools


def test_dagster_dev_serves_assets_checks_schedule_and_sensors(tmp_path):
    with dagster_dev(tmp_path) as base:
        served = inventory(base)
    assert {f"raw/{f}" for f in family_names()} <= set(served["assets"])
    assert {"release", "marts/indicator_values", "marts/submission_status",
            "registry/indicators"} <= set(served["assets"])
    assert {"gx_indicator_values", "gx_submission_status", "no_quarantined_files"} <= set(served["checks"])
    assert served["schedules"] == {"quarterly_refresh_schedule": ("0 6 20 1,4,7,10 *", "Asia/Taipei")}
    assert {"landing_sensor"} <= set(served["sensors"])
    assert "quarterly_refresh" in served["jobs"]
