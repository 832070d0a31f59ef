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

# Two workers, one per core: much of the suite waits on subprocesses, file I/O and small
# graphs; --dist loadfile keeps each file's shared fixtures (trained runs) in one worker.
test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile --durations=30 tests

test-fast: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile -m "not slow" tests

lint: $(STAMP)
	$(VENV)/bin/ruff check tfcolor tests && $(VENV)/bin/ruff format --check tfcolor tests

clean:
	rm -rf $(VENV) runs demo_output *.egg-info
