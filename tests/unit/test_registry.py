from dagster_project.config import REGISTRY_FILE
from dagster_project.lib.registry import tables


def test_every_published_figure_has_a_registry_measure(published_figures):
    t = tables(REGISTRY_FILE)
    defined = {(r.indicator_code, r.measure, r.group_code) for r in t["indicator_measures"].itertuples()}
    aliases = dict(t["indicators"].dropna(subset=["alias_of"])[["indicator_code", "alias_of"]].values)
    for row in published_figures:
        code = aliases.get(row["indicator_code"], row["indicator_code"])
        assert (code, row["measure"], row["group"]) in defined, row


def test_alias_is_declared_not_copied():
    t = tables(REGISTRY_FILE)
    alias = t["indicators"].set_index("indicator_code").loc["10.2.2"]
    assert alias["alias_of"] == "8.5.3"
    assert "10.2.2" not in set(t["indicator_measures"]["indicator_code"])


def test_report_year_rules_of_1a2():
    rules = tables(REGISTRY_FILE)["window_rules"]
    r = rules[rules.indicator_code == "1.a.2"].sort_values("first_report_year")
    assert list(r.window_start_year) == [2017, 2021]
    assert list(r.last_report_year) == [2021, 9999]


def test_every_target_refers_to_a_registry_measure():
    t = tables(REGISTRY_FILE)
    defined = {(r.indicator_code, r.measure, r.group_code) for r in t["indicator_measures"].itertuples()}
    aliases = dict(t["indicators"].dropna(subset=["alias_of"])[["indicator_code", "alias_of"]].values)
    for r in t["targets"].itertuples():
        assert (aliases.get(r.indicator_code, r.indicator_code), r.measure, r.group_code) in defined


def test_codelists_come_from_the_contract():
    from dagster_project.lib.registry import contract_tables
    from dagster_project.lib.source_contract import door

    codes = contract_tables()["codelists"]
    li = set(codes.query("family == 'labour_insurance' and column_name == 'measure_code'")["code"])
    assert li == set(door().family("labour_insurance").measure_codes) and len(li) == 6
    programmes = codes.query("family == 'training_rosters' and column_name == 'programme'")
    assert "職前訓練" in set(programmes["code"]) and "" not in set(codes["code"])
