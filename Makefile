# walletchaos: the two commands of the quick start are `make demo` and `make test`.
# Both run `make setup` first, which installs idempotently what they need (scripts/setup.sh).
PY := .venv/bin/python
SCENARIO ?= scenarios/smoke.yaml

.PHONY: setup setup-test setup-docker demo test test-unit test-integration test-e2e lint bench clean

setup:
	@bash scripts/setup.sh

demo: setup
	@$(PY) -m walletchaos run $(SCENARIO)

test: setup-test lint
	@$(PY) -m pytest tests $(PYTEST_ARGS)

setup-test:
	@bash scripts/setup.sh --with-browser
	@bash scripts/setup-docker.sh || echo "!!! DOCKER ENGINE COULD NOT BE STARTED: the docker tests will be SKIPPED !!!"

setup-docker: setup
	@bash scripts/setup-docker.sh

test-unit: setup
	@$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test-integration: setup-test
	@$(PY) -m pytest tests/integration $(PYTEST_ARGS)

test-e2e: setup
	@$(PY) -m pytest tests/e2e $(PYTEST_ARGS)

lint: setup
	@.venv/bin/ruff check .
	@.venv/bin/ruff format --check .
	@.venv/bin/mypy

# Every figure of bench/ one after the other, then one table (about 12 minutes; BENCH_ARGS=--quick: 3).
bench:
	@bash scripts/setup.sh --with-bench
	@$(PY) bench/run_all.py $(BENCH_ARGS)

clean:
	rm -rf runs artifacts .mypy_cache .ruff_cache
