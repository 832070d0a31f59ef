# `make demo` and `make test` each set everything up on a fresh machine, then run.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-fast lint clean

setup: $(STAMP)

$(STAMP): setup.py requirements.txt requirements-test.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[test,beam]'
	touch $(STAMP)

# Trains the thesis U-Net on the built-in shapes data, exports it, and colorizes the validation images.
demo: $(STAMP)
	$(PY) -m tfcolor.train --model-dir runs/demo
	$(PY) -m tfcolor.colorize runs/demo/samples --model runs/demo --output demo_output

test: $(STAMP)
	$(PY) -m pytest -q tests

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" tests

lint: $(STAMP)
	$(VENV)/bin/ruff check tfcolor tests && $(VENV)/bin/ruff format --check tfcolor tests

clean:
	rm -rf $(VENV) runs demo_output *.egg-info
