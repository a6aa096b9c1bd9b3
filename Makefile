# The two commands in the README:
#   make run    the main job: the suites against the embedded default cluster and simulator
#               (or the cluster you name with KUBECONFIG/CONTEXT), writing a report to results/
#   make test   the project's own tests (lint, types, unit, integration, smoke)
# Everything else here is plumbing for those two.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: run test venv lint type unit integration e2e clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "servegate needs Python >= 3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==26.3
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*; touch $@

# The same steps as tox.ini's environments, run in the one project venv (tox would build an
# environment per job; CI on 2 cores has better uses for those minutes).
test: venv
	$(BIN)/ruff check servegate fixtures suites tests bench scripts
	$(BIN)/ruff format --check servegate fixtures suites tests bench scripts
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/pytest tests/unit suites/static -p no:cacheprovider -q
	$(BIN)/pytest tests/integration -m integration -p no:cacheprovider -q

run: venv
	$(BIN)/pytest suites -p no:cacheprovider $(ARGS)

lint type unit integration e2e: venv
	$(BIN)/tox run -e $@ -- $(ARGS)

clean:
	rm -rf $(VENV) .tox .mypy_cache .ruff_cache .pytest_cache
