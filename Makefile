# Two commands: `make lab` (start the course) and `make test` (run everything CI runs).
# Both create .venv with Python 3.11+ on first use; nothing else needs to be set up.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP_FLAGS ?= -c constraints.txt
VENV_FLAGS ?=
STAMP := $(VENV)/.installed
# Two pytest workers share the cores, so every process (and notebook kernel) computes on one thread:
# spinning BLAS/OpenMP threads from two processes on two cores slow everything down. Timing cells
# (outputs ignored by nbval) run each case once.
TEST_ENV := TQDM_DISABLE=1 MINILIB_STRICT_WIDGETS=1 MINILIB_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 \
	MKL_NUM_THREADS=1 MINILIB_QUICK_TIMING=1

.PHONY: lab test test-fast lessons execute build claims controls lint bench browser-test clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV_FLAGS) $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(PIP_FLAGS) -e ".[lessons,dev]"
	touch $(STAMP)

# Extra JupyterLab flags: `make lab LAB_FLAGS="--port 9999 --no-browser"`. As root (containers) Jupyter
# refuses to start without --allow-root, so it is added there.
LAB_FLAGS ?=
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

## Start JupyterLab on the lessons (token authentication stays on; the URL with the token is printed).
lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=lessons $(ROOT_FLAG) $(LAB_FLAGS)

## The whole suite: lint, minilib vs torch, course integrity, widgets, every solution under nbval.
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(TEST_ENV) $(PY) -m pytest -n 2 --dist loadscope tests --ignore=tests/browser \
	    --nbval solutions --nbval-sanitize-with tests/nbval_sanitize.cfg --cov=minilib --cov=course --cov-report=term:skip-covered

## Unit tests only (no notebooks): seconds.
test-fast: $(STAMP)
	$(TEST_ENV) $(PY) -m pytest -n 2 tests --ignore=tests/browser

## Regenerate student lessons from solutions (refuses to overwrite edited lessons; FORCE=1 to override).
lessons: $(STAMP)
	@$(PY) -m course lessons $(if $(FORCE),--force)

## Re-run solutions and store their outputs (after editing a solutions/*.py).
execute: $(STAMP)
	$(PY) -m course execute

build: execute lessons

# `make claims dropout/10 softmax` : the words after `claims` are lessons or tracks, not make targets.
ifeq (claims,$(firstword $(MAKECMDGOALS)))
  CLAIM_ARGS := $(wordlist 2,$(words $(MAKECMDGOALS)),$(MAKECMDGOALS))
  $(eval $(CLAIM_ARGS):;@:)
endif

## Each lesson's claim as stored, on the other seeds in course.toml, and under its control (must fail).
claims: $(STAMP)
	$(PY) -m course claims $(CLAIM_ARGS)

## Only the controls, every lesson in parallel (CI runs this: a claim that cannot fail does not land).
controls: $(STAMP)
	$(PY) -m course claims --controls

## Real browser test (needs Debian's chromium: apt-get install chromium).
browser-test: $(STAMP)
	$(PY) -m pytest tests/browser -v

bench: $(STAMP)
	$(PY) bench/bench_minilib.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
