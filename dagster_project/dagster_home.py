"""A Dagster home (DAGSTER_HOME) for `tsdg refresh`, `make dev` and the UI check: the
instance settings of deploy/dagster.yaml, with the home's own path where the file says
@DAGSTER_HOME@ (the event log's folder: a storage's settings take an absolute path).

    python -m dagster_project.dagster_home warehouse/dagster_home
"""

import sys
from pathlib import Path

from dagster_project.config import PROJECT_ROOT

TEMPLATE = PROJECT_ROOT / "deploy" / "dagster.yaml"


def prepare(home: Path, replace: bool = False) -> Path:
    """home, with its dagster.yaml written if missing (or if `replace`); an existing one is
    kept as its owner may have edited it."""
    home = Path(home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if replace or not config.exists():
        config.write_text(TEMPLATE.read_text().replace("@DAGSTER_HOME@", str(home)))
    return home


if __name__ == "__main__":
    print(prepare(Path(sys.argv[1]), replace=True))
