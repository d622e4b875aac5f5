# The two commands of the README do all set-up themselves:
#   make paper   run every experiment notebook on PROFILE (default: the CPU default) and render results
#   make test    the test suite (what CI runs)
# PROFILE=gpu on a CUDA machine runs the published profile and copies its figures/reports into the repo.
PYTHON ?= python3
VENV ?= .venv
PROFILE ?= default
# A CPU build of torch from this machine's disk; on a CUDA machine use e.g. TORCH_SPEC='torch>=2.11'.
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.ordebug-installed
PUBLISH := $(if $(filter gpu,$(PROFILE)),--publish,)

.PHONY: setup kernel paper test lab clean-runs

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(MAKE) kernel
	touch $(STAMP)

kernel:
	$(BIN)/python -m ipykernel install --sys-prefix --name ordebug --display-name "Python (ordebug)" >/dev/null

paper: $(STAMP)
	$(BIN)/python -m ordebug_lib.run --all --profile $(PROFILE) $(PUBLISH)

# -n auto: one pytest-xdist worker per core (2 on CI); the slow tests are notebook runs that use one core each
test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

clean-runs:
	rm -rf runs/
