# The two fresh-machine commands (see README):
#   make run [SOURCE=<camera index | video | URL | image | folder>]   (default: demo, a generated scene)
#   make test
# Each creates the venv, installs emotui and pulls the offline models (and the demo's photo) as needed.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SOURCE ?= demo
ARGS ?=
TEST_MODELS_DIR ?= $(CURDIR)/.models

.PHONY: run test test-unit mutation models clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "emotui needs Python >= 3.11, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

models: $(VENV)/.installed
	$(BIN)/emotui models pull blazeface blazeface-full mini-xception $(filter demo,$(SOURCE))

run: models
	$(BIN)/emotui run --source '$(SOURCE)' $(ARGS)

test: $(VENV)/.installed
	EMOTUI_MODELS_DIR=$(TEST_MODELS_DIR) $(BIN)/emotui models pull --all
	EMOTUI_MODELS_DIR=$(TEST_MODELS_DIR) $(BIN)/python -m pytest $(ARGS)

test-unit: $(VENV)/.installed  # the fast loop: no media, no models, no services
	$(BIN)/python -m pytest tests/unit $(ARGS)

mutation: $(VENV)/.installed  # mutants of the domain modules ([tool.mutmut]) against the unit tests; not in CI
	$(BIN)/python -m pip install --quiet -e '.[mutation]'
	$(BIN)/mutmut run || true
	$(BIN)/python benchmarks/mutation_report.py

clean:
	rm -rf $(VENV) $(TEST_MODELS_DIR) mutants
