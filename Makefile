# Quick start: `make demo` and `make test`. Both create .venv first (pinned CPU torch on CPU machines).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_OUT ?= runs/demo

.PHONY: setup demo lint test test-fast bench clean

$(STAMP): pyproject.toml scripts/install-torch.sh
	$(PYTHON) -m venv $(VENV)
	scripts/install-torch.sh $(PY)
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/latentforge demo --out $(DEMO_OUT)

# The house's checks: lint (ruff) and the layer contract (import-linter, [tool.importlinter] in pyproject.toml).
lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/lint-imports

test: lint
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

# Benchmarks write benchmarks/results/*.json and docs/benchmarks.md. MNIST_DIR / FASHION_DIR: the IDX files.
MNIST_DIR ?= $(HOME)/.cache/latentforge/datasets/mnist
FASHION_DIR ?= /usr/share/datasets/fashion-mnist

bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) benchmarks/train_throughput.py
	$(PY) benchmarks/vae_vs_pythae.py --data-dir $(MNIST_DIR)
	$(PY) benchmarks/gan_fashion.py --data-dir $(FASHION_DIR)
	$(PY) benchmarks/nll_mnist.py --data-dir $(MNIST_DIR)

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis .import_linter_cache .ruff_cache
