PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

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
	@# pytest exits 5 when it collects no tests; that is not a failure of the code.
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples

bench: $(STAMP)
	$(BIN)/python bench/hashing.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
