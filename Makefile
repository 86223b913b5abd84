# Two commands do all the set-up: `make lab` and `make test` (each creates .venv when missing).
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c  # a failing notebook fails `make check-seeds` despite its tee
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.edu_contrast-installed

.PHONY: install lab test lint html book check-seeds solutions grade colab-links clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-installs when pyproject.toml or the version changes.
$(STAMP): pyproject.toml edu_contrast/_version.py | $(BIN)/python
	$(BIN)/python -m pip install -e ".[lab,dev,serve,book]"
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

# The course site (Sphinx + myst-nb): the notebooks executed in quick mode, two at a time, with the notation
# page, search, offline maths and a Colab button per notebook → build/book/html/index.html (book/build.py).
book: install
	$(BIN)/python book/build.py build/book

# Every notebook's asserts for seeds 0, 1, 2 in quick and lab mode (lab: up to ~10 min a notebook on 2 CPUs),
# two runs at a time with one BLAS thread each; every failure is listed at the end and fails the target.
check-seeds: install
	mkdir -p build
	$(BIN)/python -m edu_contrast.notebook_runner notebooks/*.ipynb --mode quick --seed 0 1 2 --jobs 2 | tee build/check-seeds-quick.txt
	$(BIN)/python -m edu_contrast.notebook_runner notebooks/*.ipynb --mode lab --seed 0 1 2 --jobs 2 | tee build/check-seeds-lab.txt

# Solution notebooks (every `# Exercise:` stub cell replaced by the package's reference) in build/solutions/.
solutions: install
	$(BIN)/python -m edu_contrast.exercises._make_solutions --out build/solutions notebooks/*.ipynb

# Grade a folder of submitted notebooks: make grade DIR=submissions/
grade: install
	$(BIN)/python -m edu_contrast grade $(DIR)

# Point every Colab badge, setup cell (pinned edu-contrast==<version>) and book/docs link at one repository
# and release: make colab-links REPO=owner/name (REPO is recorded in pyproject.toml; without it, the recorded
# one). Run it after bumping edu_contrast/_version.py; tests/test_packaging.py fails while anything disagrees.
colab-links:
	$(PYTHON) tools/colab_links.py $(if $(REPO),--repo $(REPO))

clean:
	rm -rf build .pytest_cache .ruff_cache
