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
