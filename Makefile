# The README's two commands: `make run` and `make test`. Everything else is set up here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN_ARGS ?= --time-limit 60 --max-evals 100000

.PHONY: run test lint bench gpu-wheels venv clean

venv: $(STAMP)

# evoforge needs Python 3.11+. A .venv an older Python made (a first try with it) is made
# again, not kept: else `make run PYTHON=python3.12` would fail as the first try did.
NEW_ENOUGH := -c 'import sys; sys.exit(sys.version_info < (3, 11))'

$(STAMP): pyproject.toml
	@$(PYTHON) $(NEW_ENOUGH) || { echo "evoforge needs Python 3.11 or newer;" \
	  "$(PYTHON) is $$($(PYTHON) --version 2>&1): make run PYTHON=python3.12 (or any 3.11+)"; \
	  exit 1; }
	@$(BIN)/python $(NEW_ENOUGH) 2>/dev/null || $(PYTHON) -m venv --clear $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

# Evolve online bin packing from best fit for about a minute on the local workers.
run: $(STAMP)
	$(BIN)/evolve run binpack.online $(RUN_ARGS)

test: $(STAMP) lint
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python -m bench

# Wheels the device machine lacks for bench/autonumerics_gpu.py (its Python is 3.12 and it
# cannot fetch): carry .whl there; the script's docstring has the command to run.
gpu-wheels: $(STAMP)
	$(BIN)/python -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
	  --implementation cp --platform manylinux2014_x86_64 -d .whl deap==1.4.4

clean:
	rm -rf $(VENV) *.egg-info
