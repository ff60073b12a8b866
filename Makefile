PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-all lint bench clean

# $(call pytest_part,NAME,ARGS): one part of the suite, in a subshell that exits with pytest's
# status. A part that collects nothing fails: pytest exits 5 then, and each part has tests, so
# collecting none means something broke (a bad PYTEST_ARGS, a lost marker, an import error
# hidden by a filter).
#
# Python writes its bytecode caches (__pycache__, gitignored) here even where the environment says
# not to: without them every worker and every server or CLI process a test starts compiles all
# of DeepShield again, and pytest rewrites every test module's asserts again, on each run.
define pytest_part
( env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest $(2) $(PYTEST_ARGS); rc=$$?; \
  if [ $$rc -eq 5 ]; then echo "FAILED: pytest collected no tests in $(1) (exit 5); it has tests," \
    "so collection broke (PYTEST_ARGS='$(PYTEST_ARGS)'; for a subset, call pytest itself)" >&2; fi; \
  exit $$rc )
endef

# The parallel part: one pytest-xdist worker per core, handed tests one by one as they free up,
# except the files in tests/conftest.py's ONE_WORKER_FILES, each run whole on one worker, in order
# (tests/test_isolation.py checks what the test before it left behind).
PARALLEL := -n auto --dist loadgroup

# Both parts always run; either failing fails the target. The serial part comes last, alone on
# the machine: tests marked `serial` measure memory or time, or kill -9 servers.
define two_parts
status=0; \
$(call pytest_part,the parallel part,$(PARALLEL) -m "$(1)not serial") || status=1; \
$(call pytest_part,the serial part,-m "$(1)serial") || status=1; \
exit $$status
endef

$(STAMP): pyproject.toml setup.py src/deepshield/signals/_pdq_native.c \
		src/deepshield/index/_pdq_search_native.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## make run: start the server on 127.0.0.1:8000 with the embedded SQLite store under $$DEEPSHIELD_HOME (./var):
## the web pages at http://127.0.0.1:8000/ and the API at /v1 (documentation at /docs)
run: $(STAMP)
	$(BIN)/deepshield serve --host 127.0.0.1 --port 8000

## make test: ruff, then the whole suite on SQLite only, without the browser tests (-m "not postgres and
## not browser"), in parallel (pytest-xdist, -n auto), then the `serial` tests alone; about 5 minutes on 2 cores
test: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(call two_parts,not postgres and not browser and )

## make test-all: what CI runs (.ci/run): ruff, then everything on SQLite and PostgreSQL (servers, kill -9
## and the web door's tests in Debian's chromium included), in parallel, then the `serial` tests alone; .ci/run adds DEEPSHIELD_REQUIRE_POSTGRES=1 and
## DEEPSHIELD_REQUIRE_REFERENCE=1, so the PostgreSQL and reference tests fail instead of skipping
test-all: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(call two_parts,)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples

bench: $(STAMP)
	$(BIN)/python bench/hashing.py

## make docs: regenerate the generated parts of docs/CLI.md and docs/CONFIGURATION.md (cog blocks);
## tests/test_docs_current.py fails while they are stale
.PHONY: docs
docs: $(STAMP)
	$(BIN)/cog -r docs/CLI.md docs/CONFIGURATION.md

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
