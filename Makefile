# Two entry points keep working on a fresh machine: `make demo` and `make test`
# (the fast tier: tests marked slow are left out; `make test-all` runs everything).
# Both create .venv when it is missing. torch is pinned to the local CPU wheel
# (pip finds it through find-links); never let a resolver pull a CUDA build.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PIP_INSTALL := $(PY) -m pip install --quiet --disable-pip-version-check -c requirements/constraints.txt

.PHONY: demo test test-all lint bench bench-long bench-corpus clean-venv

$(STAMP): pyproject.toml requirements/constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) torch==2.13.0 2>$(VENV)/pip.log || { cat $(VENV)/pip.log; exit 1; }
	$(PIP_INSTALL) torch==2.13.0 -e '.[dev]' 2>$(VENV)/pip.log || { cat $(VENV)/pip.log; exit 1; }
	$(PY) -c "import torch, mlflow, wandb, clearml, libcst, lightning, tensorboardX"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

test: $(STAMP)
	$(PY) -m ruff check tracelet tests benchmarks examples
	$(PY) -m pytest -m "not slow"

test-all: $(STAMP)
	$(PY) -m ruff check tracelet tests benchmarks examples
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check tracelet tests benchmarks examples
	$(PY) -m ruff format --check tracelet tests benchmarks examples

bench: $(STAMP)
	$(PY) benchmarks/run.py

bench-long: $(STAMP)
	$(PY) benchmarks/run.py --long

# tracelet migrate over the corpus of real training code (tests/fixtures/corpus)
bench-corpus: $(STAMP)
	$(PY) benchmarks/corpus_bench.py

# The docs site (MkDocs, Material theme, API reference from the docstrings).
.PHONY: docs docs-build
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve

docs-build: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

clean-venv:
	rm -rf $(VENV)
