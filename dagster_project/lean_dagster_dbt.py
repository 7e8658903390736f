"""dagster-dbt, imported without importing dbt itself.

dagster-dbt imports dbt-core at import time when it is installed (for its enums and its
in-process selection engine): about 2.5 s of CPU in every process that loads the
definitions — each `tsdg refresh`, the UI, every test worker — though this project never
runs dbt in those processes: dbt runs in `tsdg-dbt` children forked from the dbt server
(dbt_server.py), which imports dbt once, on the other core. Without dbt-core importable,
dagster-dbt uses its own copies of those enums and reads the default selection straight
from the manifest, as it does for dbt Fusion; `LeanDbtCliResource` tells it the installed
dbt-core's version, so the invocation itself is unchanged (a dbt-core CLI, JSON logs).

A process that has already imported dbt keeps it (nothing is hidden then). dbt stays
importable afterwards: only dagster-dbt's first import sees it missing.
"""

import sys

_HIDDEN = "dbt.version"  # what dagster_dbt.compat tries first to learn whether dbt is there
_hide = _HIDDEN not in sys.modules and "dagster_dbt" not in sys.modules
if _hide:
    sys.modules[_HIDDEN] = None  # `from dbt.version import ...` raises ImportError
try:
    from dagster_dbt import (  # noqa: E402
        DagsterDbtTranslator,
        DbtCliResource,
        DbtProject,
        dbt_assets,
        get_asset_key_for_model,
    )
finally:
    if _hide:
        del sys.modules[_HIDDEN]

__all__ = ["DagsterDbtTranslator", "DbtCliResource", "DbtProject", "dbt_assets",
           "get_asset_key_for_model"]
