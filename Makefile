# The two commands (README): `make run` (main job) and `make test` (test suite).
# Both bootstrap the project venv first; a second call does not reinstall.
.PHONY: bootstrap run test test-integration test-slow lint bench
VENV ?= .venv

bootstrap:
	@bash workflows/bootstrap.sh

run: bootstrap
	$(VENV)/bin/mttmat run $(ARGS)

test: bootstrap
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

test-integration: bootstrap
	$(VENV)/bin/python -m pytest -m integration $(PYTEST_ARGS)

test-slow: bootstrap
	$(VENV)/bin/python -m pytest -m slow $(PYTEST_ARGS)

lint: bootstrap
	$(VENV)/bin/ruff check mttmat tests benchmarks analysis workflows

bench: bootstrap
	for b in benchmarks/*.py; do $(VENV)/bin/python $$b || exit 1; done
