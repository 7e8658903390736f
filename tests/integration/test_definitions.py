import dagster as dg


def test_definitions_load_with_partitioned_ingestion_and_dbt_assets():
    from dagster_project.definitions import defs

    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    for family in ("training_rosters", "employment_services", "labour_insurance",
                   "county_submissions", "programme_tallies"):
        assert f"raw/{family}" in keys
        partitions = graph.get(dg.AssetKey(["raw", family])).partitions_def
        assert partitions.get_partition_keys()[:2] == ["2017Q1", "2017Q2"]
    assert {"marts/indicator_values", "marts/indicator_progress", "release"} <= keys


def test_the_release_goes_stale_after_a_quarter_and_its_deadline():
    from datetime import timedelta

    from dagster_project.definitions import defs

    spec = defs.resolve_asset_graph().get(dg.AssetKey(["release"]))
    assert spec.freshness_policy.fail_window.to_timedelta() == timedelta(days=140)


def test_importing_the_definitions_parses_nothing_and_warns_of_no_deprecation():
    import subprocess
    import sys

    code = "import dagster_project.definitions"
    result = subprocess.run([sys.executable, "-W", "error::DeprecationWarning:dagster_project",
                             "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "dbt parse" not in result.stdout + result.stderr
