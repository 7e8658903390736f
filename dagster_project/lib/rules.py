"""The door's rules in Traditional Chinese and English with their fixes (registry/rules.yml):
what the quarantine reports and the senders' status letters say about a problem."""

import re
from collections import defaultdict
from dataclasses import dataclass
from functools import cache

import yaml

from dagster_project.config import PROJECT_ROOT

RULES_FILE = PROJECT_ROOT / "registry" / "rules.yml"
TEXTS = ("zh", "en", "fix_zh", "fix_en")


@dataclass(frozen=True)
class Rule:
    id: str
    match: re.Pattern
    zh: str
    en: str
    fix_zh: str
    fix_en: str


@cache
def rules() -> tuple[Rule, ...]:
    raw = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))["rules"]
    for r in raw:
        missing = [t for t in TEXTS if not str(r.get(t) or "").strip()]
        if missing:
            raise ValueError(f"registry/rules.yml: rule {r.get('id')} lacks {missing}")
    return tuple(Rule(r["id"], re.compile(r["match"]), r["zh"], r["en"], r["fix_zh"], r["fix_en"])
                 for r in raw)


def rule_for(wording: str) -> Rule:
    """The first rule whose pattern matches a problem's wording (the last rule matches all)."""
    return next(r for r in rules() if r.match.search(wording))


def texts(wording: str) -> dict[str, str]:
    """rule_id, zh, en, fix_zh, fix_en of a problem, with its details filled in."""
    rule = rule_for(wording)
    details = defaultdict(str, {k: v or "" for k, v in rule.match.search(wording).groupdict().items()})
    return {"rule_id": rule.id, "zh": rule.zh.format_map(details), "en": rule.en.format_map(details),
            "fix_zh": rule.fix_zh, "fix_en": rule.fix_en}


def rule_text(rule_id: str, **details: str) -> dict[str, str]:
    """The texts of one rule by id, its details given (for what is said before a file
    exists: the county templates' validation messages)."""
    rule = next(r for r in rules() if r.id == rule_id)
    filled = defaultdict(str, details)
    return {"rule_id": rule.id, "zh": rule.zh.format_map(filled), "en": rule.en.format_map(filled),
            "fix_zh": rule.fix_zh, "fix_en": rule.fix_en}
