# The two commands in the README:
#   make run    the main job: the suites against the embedded default cluster and simulator
#               (or the cluster you name with KUBECONFIG/CONTEXT), writing a report to results/
#   make test   the project's own tests (lint, types, unit, integration, smoke)
# Everything else here is plumbing for those two.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

# Debian packages the embedded local cluster's real node uses (installed only when missing,
# only as root, without starting their services; without them the cluster tiers skip with
# the reason).
SYSTEM_PKGS := containerd runc containernetworking-plugins iptables conntrack iproute2 \
               debootstrap prometheus ipset redis-server cmake g++

.PHONY: run test kind-smoke venv system-deps lint type unit integration e2e clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "servegate needs Python >= 3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==26.3
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*; touch $@

# The same steps as tox.ini's environments, run in the one project venv (tox would build an
# environment per job; CI on 2 cores has better uses for those minutes).
system-deps:
	@missing=""; for p in $(SYSTEM_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing:$$missing"; \
	    sh scripts/apt_install.sh $$missing; \
	  else echo "note: missing Debian packages for the local cluster:$$missing (cluster tiers will skip)"; fi; \
	fi

# tests/e2e/node boot a real node of their own, which cannot run beside another: they go in
# a phase of their own, before the e2e tier's session starts the shared local cluster.
test: venv system-deps
	$(BIN)/ruff check servegate fixtures suites tests bench scripts
	$(BIN)/ruff format --check servegate fixtures suites tests bench scripts
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/pytest tests/unit suites/static -p no:cacheprovider -q
	$(BIN)/servegate engine build
	$(BIN)/servegate llmd-sim build
	$(BIN)/pytest tests/integration -m integration -p no:cacheprovider -q
	$(BIN)/pytest tests/e2e/node -m e2e -p no:cacheprovider -q
	$(BIN)/pytest tests/e2e -m e2e --ignore=tests/e2e/node -p no:cacheprovider -q
	$(BIN)/pytest suites -m smoke -p no:cacheprovider -q $(SMOKE_ARGS)
	$(BIN)/pytest suites/smoke -m smoke --sg-overlay engine -p no:cacheprovider -q

# The smoke tier on a kind cluster (docs/kind.md): Docker, or Debian's docker.io which
# servegate starts and stops itself (as root). CI runs it after `make test` (.ci/run).
kind-smoke: venv
	$(BIN)/pytest suites -m smoke --sg-cluster kind -p no:cacheprovider -q

# The main job calibrates the load generator once per machine (about 2 minutes) so reports can
# say whether figures were taken below its ceiling.
run: venv system-deps
	@$(BIN)/python -c 'import sys; from servegate.load.calibration_file import default_path as p; sys.exit(0 if p().exists() else 1)' \
	  || $(BIN)/servegate calibrate
	$(BIN)/pytest suites -p no:cacheprovider $(ARGS)

lint type unit integration e2e: venv
	$(BIN)/tox run -e $@ -- $(ARGS)

clean:
	rm -rf $(VENV) .tox .mypy_cache .ruff_cache .pytest_cache
