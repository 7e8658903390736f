"""Which dbt models a build can keep as they are instead of building them again.

A build starts as a copy of the working warehouse, and the working warehouse is always what
a published run left: every model in it was built, validated and published from the raw
tables it holds. A model whose inputs are the same as then need not be built again. The
inputs that change between runs are a family's raw rows and the family's lifecycle records
(which files count); the registry, the models and the code change only with the project
(`build_inputs.project_sha256`).

So after every successful dbt build, `record` writes, for each family, a digest of its
lifecycle records (every column of raw.landed_files: a re-ingested file has a new run id and
load time even when its bytes are the same) and of its raw table's row count, with the
project's digest. The next build compares: a family whose digest is the same, under the
same project, is unchanged, and the models that read only that family are kept.

A model says it reads only one family with `meta: {tsdg_family: <family>}` in its config
(the staging models: their raw table, and landed_files through `current_files(family)`,
which filters on the family). Any other model is kept only if every model it reads is
kept and it reads no source but the registry; everything else — every model reading
landed_files directly, the marts that gather the families — is built every time. Nothing
unknown is kept: a model without the declaration, a family table the warehouse lacks, a
warehouse without a record, a different project: the whole project is built.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from dagster_project.config import DUCKDB_CONFIG
from dagster_project.dbt_in_build import EXCLUDE_FILE
from dagster_project.lib.duckdb_tables import table_names
from dagster_project.write_audit_publish import writer

FAMILY_META = "tsdg_family"
RECORD = "meta.dbt_inputs"
REGISTRY_SOURCE = "registry"
RAW_SOURCE = "raw"
LIFECYCLE_TABLE = "landed_files"


@dataclass
class Reuse:
    unchanged: list[str] = field(default_factory=list)  # families
    models: list[str] = field(default_factory=list)     # model names kept as they are
    why_not: str = ""                                   # when nothing is kept: why


def digests(con) -> dict[str, str]:
    """{family: digest of its lifecycle records and its raw table's row count}."""
    tables = table_names(con)
    if f"{RAW_SOURCE}.{LIFECYCLE_TABLE}" not in tables:
        return {}
    rows = con.execute(f"""
        select family, md5(string_agg(to_json(f)::varchar, chr(10) order by to_json(f)::varchar))
        from {RAW_SOURCE}.{LIFECYCLE_TABLE} f group by family""").fetchall()
    found = {}
    for family, digest in rows:
        table = f"{RAW_SOURCE}.{family}"
        if table not in tables:
            continue  # no raw table of that name: never counted as unchanged
        (count,) = con.execute(f'select count(*) from {RAW_SOURCE}."{family}"').fetchone()
        found[family] = f"{digest}:{count}"
    return found


def recorded(con) -> dict[str, tuple[str, str]]:
    if RECORD not in table_names(con):
        return {}
    return {f: (d, p) for f, d, p in con.execute(
        f"select family, inputs_digest, project_sha256 from {RECORD}").fetchall()}


def reusable_models(manifest: dict, unchanged: set[str]) -> list[str]:
    """The models that read nothing but unchanged families (through the declared models)
    and the registry, each after the models it reads."""
    sources = {uid: (s["source_name"], s["name"]) for uid, s in manifest["sources"].items()}
    models = {uid: n for uid, n in manifest["nodes"].items() if n["resource_type"] == "model"}
    kept: dict[str, None] = {}  # in the order found
    grew = True
    while grew:  # until no more can be added (the manifest's order is not dependency order)
        grew = False
        for uid, node in models.items():
            if uid in kept:
                continue
            deps = node["depends_on"]["nodes"]
            read = [sources.get(d, ("?", d)) for d in deps if d.startswith("source.")]
            refs = [d for d in deps if d.startswith("model.")]
            family = (node["config"].get("meta") or {}).get(FAMILY_META)
            if family:
                ok = family in unchanged and not refs and all(
                    s == REGISTRY_SOURCE or (s == RAW_SOURCE and t in (family, LIFECYCLE_TABLE))
                    for s, t in read)
            else:
                ok = bool(refs) and all(r in kept for r in refs) and all(
                    s == REGISTRY_SOURCE for s, _ in read)
            if ok:
                kept[uid] = None
                grew = True
    return [models[uid]["name"] for uid in kept]


def plan(database: Path, manifest_path: Path, project: str) -> Reuse:
    with duckdb.connect(str(database), read_only=True, config=DUCKDB_CONFIG) as con:
        now, before = digests(con), recorded(con)
    if not before:
        return Reuse(why_not="no record of the models' inputs in this warehouse (a first "
                             "build, or the last one ran on another engine)")
    if any(p != project for _, p in before.values()):
        return Reuse(why_not="the project (registry, models, checks or code) changed since "
                             "the last build")
    unchanged = {f for f, d in now.items() if before.get(f, (None,))[0] == d}
    if not unchanged:
        return Reuse(why_not="every family's files changed")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    return Reuse(unchanged=sorted(unchanged), models=reusable_models(manifest, unchanged))


def hand_over(build_dir: Path, models: list[str]) -> None:
    """The models this build keeps, for tsdg-dbt (which excludes them) and the GX check
    (which carries their suites' results over): a list beside the build's file."""
    listed = build_dir / EXCLUDE_FILE
    listed.unlink(missing_ok=True)
    if models:
        listed.write_text(json.dumps(models), encoding="utf-8")


def kept_models(build_dir: Path) -> set[str]:
    listed = build_dir / EXCLUDE_FILE
    return set(json.loads(listed.read_text(encoding="utf-8"))) if listed.exists() else set()


def record(database: Path, project: str) -> None:
    """After a successful build: what its models were built from."""
    with writer(database) as con:
        now = digests(con)
        con.execute("create schema if not exists meta")
        con.execute(f"create or replace table {RECORD} (family varchar, inputs_digest varchar, "
                    "project_sha256 varchar)")
        if now:
            con.executemany(f"insert into {RECORD} values (?, ?, ?)",
                            [(f, d, project) for f, d in sorted(now.items())])


def forget(database: Path) -> None:
    """A build whose models were made elsewhere (Spark): the next one builds everything."""
    with writer(database) as con:
        con.execute(f"drop table if exists {RECORD}")
