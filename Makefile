# Two commands do all the set-up: `make lab` and `make test` (each creates .venv when missing).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.edu_contrast-installed

.PHONY: install lab test lint html clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-installs when pyproject.toml changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e ".[lab,dev,serve]"
	touch $(STAMP)

install: $(STAMP)

lab: install
	$(BIN)/jupyter lab notebooks/

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest

html: install
	$(BIN)/python -m edu_contrast.notebook_runner --html build/html notebooks/*.ipynb

clean:
	rm -rf build .pytest_cache .ruff_cache
