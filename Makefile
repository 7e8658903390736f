# The two commands of the README: `make demo` and `make test`. Both create .venv first.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export DO_NOT_TRACK := 1
export GX_ANALYTICS_ENABLED := false

.PHONY: setup system-deps demo test check lint dev dev-postgres sample refresh serve clean

$(BIN)/tsdg: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(BIN)/tsdg

# The dbt manifest the Dagster definitions load (re-parsed when a model changes).
DBT_FILES := $(shell find dbt/models dbt/macros -name '*.sql' -o -name '*.yml') dbt/dbt_project.yml
dbt/target/manifest.json: $(BIN)/tsdg $(DBT_FILES)
	$(BIN)/python -m dagster_project.dbt_manifest

setup: $(BIN)/tsdg dbt/target/manifest.json

# Readers the tests use to check printable outputs: headless Chromium (renders HTML, prints
# PDF), Noto CJK fonts (Chinese in print), poppler (pdfinfo/pdftoppm read the PDF back) and
# LibreOffice Calc (prints release.xlsx: a second, independent reader of the workbook).
# Past one machine: Java 17 (Spark runs the models on it) and PostgreSQL (Dagster's storage
# for a team). Installed from Debian's packages when missing (needs root, as on CI).
SYSTEM_TOOLS := chromium pdfinfo soffice java
SYSTEM_PACKAGES := chromium fonts-noto-cjk poppler-utils libreoffice-calc-nogui \
	openjdk-17-jre-headless postgresql
system-deps:
	@missing=0; for t in $(SYSTEM_TOOLS); do command -v $$t >/dev/null || missing=1; done; \
	fc-list 2>/dev/null | grep -q "Noto Sans CJK" || missing=1; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing=1; \
	if [ $$missing = 1 ]; then \
	  echo "installing $(SYSTEM_PACKAGES) (apt-get)"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	    $(SYSTEM_PACKAGES) >/dev/null || \
	  { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	    --no-install-recommends $(SYSTEM_PACKAGES) >/dev/null; }; \
	fi

demo: setup
	$(BIN)/tsdg sample --out sources/landing
	$(BIN)/tsdg refresh
	@echo "Release: $$(readlink -f warehouse/releases/latest)"
	@echo "Workbook (Excel, zh-Hant/English): $$(readlink -f warehouse/releases/latest)/release.xlsx"
	@echo "Tidy data (Parquet, CSV) and metadata: $$(readlink -f warehouse/releases/latest)/data/, metadata.json"
	@echo "Report (offline HTML): $$(readlink -f warehouse/releases/latest)/report/index.html"
	@echo "Report (PDF, needs chromium: make system-deps): $$(readlink -f warehouse/releases/latest)/report.pdf"
	@echo "SDMX-CSV 2.0 and its structure: $$(readlink -f warehouse/releases/latest)/sdmx/"
	@echo "Try: $(BIN)/tsdg query \"select * from indicator_progress\""

# Keep refreshes warm: each `tsdg refresh` of this user is forked from it (until Ctrl-C).
serve: setup
	$(BIN)/tsdg serve

# Every tier: the default one (tiny warehouse), `tools` (outputs read back by other
# programs, letters, revalidation, the UI, the dbt server), `fault` (kill -9 at many points
# of a refresh), `distributed` (the models on Spark, Dagster on PostgreSQL) and `e2e` (the
# scale-1 proof).
# Both run the tests on pytest-xdist workers, one per core of this 2-core machine; tests that
# share a module-scoped fixture share a worker (tests/conftest.py). `PYTEST_WORKERS=0 make
# check` runs them serially.
PYTEST_WORKERS ?= 2
XDIST := -n $(PYTEST_WORKERS) --dist loadgroup --no-loadscope-reorder
test: setup system-deps
	$(BIN)/ruff check dagster_project tests
	$(BIN)/pytest $(XDIST) --durations=15

# The default tier only: unit, file reading, corpus, fuzzing, privacy, the door and every
# scenario on the tiny calibrated warehouse (`pytest -m tools` runs the tools tier).
check: setup system-deps
	$(BIN)/ruff check dagster_project tests
	$(BIN)/pytest $(XDIST) -m "not e2e and not fault and not distributed and not tools" --durations=10

lint: setup
	$(BIN)/ruff check dagster_project tests

# The Dagster UI on the same definitions, runs kept under warehouse/dagster_home.
dev: setup
	mkdir -p warehouse/dagster_home
	cp deploy/dagster.yaml warehouse/dagster_home/dagster.yaml
	DAGSTER_HOME=$(CURDIR)/warehouse/dagster_home $(BIN)/dagster dev -m dagster_project.definitions -h 127.0.0.1 -p 3000

# The same UI on Dagster's team instance: run, event-log and schedule storage on a local
# PostgreSQL (Debian's package; make system-deps) in warehouse/postgres/, Unix socket only.
dev-postgres: setup system-deps
	mkdir -p warehouse/dagster_home_postgres
	cp deploy/dagster-postgres.yaml warehouse/dagster_home_postgres/dagster.yaml
	DAGSTER_HOME=$(CURDIR)/warehouse/dagster_home_postgres $(BIN)/python -m \
	  dagster_project.local_postgres warehouse/postgres -- $(BIN)/dagster dev \
	  -m dagster_project.definitions -h 127.0.0.1 -p 3000

clean:
	rm -rf warehouse sources/landing dbt/target
