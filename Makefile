# Two promises of the README: `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DEMO_FLOW ?= glow
# Test worker processes (pytest-xdist); each test file runs in one worker, so
# its module fixtures are built once.
TEST_WORKERS ?= 2

.PHONY: install demo test test-slow bench clean

install: $(STAMP)

# Re-install whenever pyproject.toml changes; the stamp marks a complete install.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,examples]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m tfp_flows.cli train --flow $(DEMO_FLOW) --dataset digits \
	  --out saved_models/$(DEMO_FLOW)-digits

test: $(STAMP)
	$(PY) -m pytest -x -q -n $(TEST_WORKERS) --dist loadfile

# Speed, then density quality, at the CPU sizes (about 8 minutes on 2 cores);
# each prints Markdown tables and adds its section to
# benchmarks/results/<date>-<host>.json.
bench: $(STAMP)
	$(PY) benchmarks/speed.py
	$(PY) benchmarks/density.py

test-slow: $(STAMP)
	$(PY) -m pytest -x -q -m slow -n $(TEST_WORKERS) --dist loadfile

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
