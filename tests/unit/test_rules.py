"""registry/rules.yml: every door rule in zh-Hant and English with a fix."""

import pytest
import yaml

from dagster_project.lib import rules as rules_module
from dagster_project.lib.rules import TEXTS, rules, texts


def test_every_rule_has_both_languages_and_both_fixes():
    assert len(rules()) > 20
    for rule in rules():
        for name in TEXTS:
            assert getattr(rule, name).strip(), (rule.id, name)
    assert rules()[-1].id == "other" and rules()[-1].match.pattern == ""


def test_a_rule_without_its_chinese_text_is_refused(tmp_path, monkeypatch):
    raw = yaml.safe_load(rules_module.RULES_FILE.read_text(encoding="utf-8"))
    raw["rules"][0]["zh"] = ""
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    monkeypatch.setattr(rules_module, "RULES_FILE", path)
    rules.cache_clear()
    try:
        with pytest.raises(ValueError, match="lacks \\['zh'\\]"):
            rules()
    finally:
        monkeypatch.undo()
        rules.cache_clear()


def test_details_of_the_wording_fill_the_texts():
    said = texts("相對存款配合款金額 cannot exceed 相對存款參與人數 × 9,000 (90,000 on this row)")
    assert said["rule_id"] == "within_row"
    assert said["zh"] == "「相對存款配合款金額」不得大於「相對存款參與人數」 × 9,000（本列上限為 90,000）。"
    assert texts("file name does not follow the training_rosters contract "
                 "(e.g. roster_113Q2_T.csv)")["zh"] == "檔名不符合此類資料的命名規則（範例：roster_113Q2_T.csv）。"
    assert texts("something nobody foresaw")["rule_id"] == "other"
