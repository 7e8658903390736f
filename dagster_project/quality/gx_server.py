"""The process GX children are forked from: it imports GX once (about 4 s of CPU), then for
each request on stdin (a JSON line: validate.py's `_child` arguments) forks a child that
validates and exits, and answers with the child's exit code. It ends when its stdin closes,
that is, with the process that started it (quality/validate.py)."""

import json
import os
import sys

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
# The suites run on DuckDB only. GX imports pyspark, its ML library and SciPy's sparse
# matrices when pyspark is installed (it is, for the Spark engine): seconds for nothing.
# Marked absent here, GX takes it as not installed.
sys.modules["pyspark"] = None

# The point of this process: GX (with the modules validate._validate takes from it, and
# SQLAlchemy) and our DuckDB fix, imported once for every child.
import great_expectations  # noqa: E402,F401

from dagster_project.quality import gx_duckdb  # noqa: E402,F401
from dagster_project.quality.validate import _child  # noqa: E402


def main() -> None:
    # The answers go out on the original stdout; anything else printed (by GX, by a child)
    # goes to stderr, so it cannot be taken for an answer.
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(**request)  # never returns: the child exits
        _, status = os.waitpid(pid, 0)
        answers.write(json.dumps({"exit": os.waitstatus_to_exitcode(status)}) + "\n")
        answers.flush()
    # GX's import leftovers die with this process, unreported.
    os._exit(0)


if __name__ == "__main__":
    main()
