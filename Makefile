# Two commands for a newcomer: `make benchmark` (the main job) and `make test`.
# Each creates .venv by itself; CPU torch is pinned and installed before the project.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: benchmark test lint clean-venv

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet torch==2.13.0
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $(STAMP)

benchmark: $(STAMP)
	$(VENV)/bin/echelon benchmark

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest -q

clean-venv:
	rm -rf $(VENV)
