PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-all lint bench clean

# pytest, failing a run that collects nothing: pytest exits 5 then, and this suite has tests, so
# collecting none means something broke (a bad PYTEST_ARGS, an import error hidden by a filter).
define run_pytest
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "FAILED: pytest collected no tests (exit 5); this suite has tests," \
	  "so collection broke (PYTEST_ARGS='$(PYTEST_ARGS)')" >&2; fi; exit $$rc
endef

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## make run: start the server on 127.0.0.1:8000 with the embedded SQLite store under $$DEEPSHIELD_HOME (./var)
run: $(STAMP)
	$(BIN)/deepshield serve --host 127.0.0.1 --port 8000

## make test: the whole suite (PostgreSQL tests run when DEEPSHIELD_TEST_POSTGRES_URL is reachable)
test: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(run_pytest)

## make test-all: what CI runs (.ci/run): `make test`; .ci/run adds DEEPSHIELD_REQUIRE_POSTGRES=1 and
## DEEPSHIELD_REQUIRE_REFERENCE=1, so the PostgreSQL and reference tests fail instead of skipping
test-all: test

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples

bench: $(STAMP)
	$(BIN)/python bench/hashing.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
