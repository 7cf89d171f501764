# Entry points. `make dev` and `make test` bootstrap everything they need on a fresh machine.
PY := .venv/bin
PYTEST_ARGS ?=

.PHONY: bootstrap dev test lint typecheck pytest format bench web browser

bootstrap: .venv/.bootstrapped build/web/.built

## The browser module of the pages (npm ci + esbuild into build/web/).
web: build/web/.built

build/web/.built: web/package.json web/package-lock.json web/build.mjs $(wildcard web/src/*.js) scripts/build-web
	./scripts/build-web
	touch $@

## Debian's Chromium for the browser tests (installed when missing).
browser:
	./scripts/ensure-chromium

.venv/.bootstrapped: pyproject.toml uv.lock scripts/bootstrap
	./scripts/bootstrap
	touch $@

## Run the coordinator with the embedded devnet (chain, Lightning, oracle, signer) on 127.0.0.1.
dev: bootstrap
	$(PY)/coordinator dev

## Every quality gate: lint, format check, type check, the whole test suite.
test: bootstrap browser lint typecheck pytest

lint: bootstrap
	$(PY)/ruff check src tests benchmarks scripts
	$(PY)/ruff format --check src tests benchmarks scripts
	$(PY)/lint-imports --no-cache
	$(PY)/python scripts/dead_code.py

typecheck: bootstrap
	$(PY)/mypy

# The end-to-end suites (tests/e2e, marker e2e: a whole devnet stack per module) run in two
# processes (each process starts a stack per module it runs tests of); everything else first. Exit code 5 (nothing selected,
# e.g. with PYTEST_ARGS="-k …") is not a failure of either half.
pytest: bootstrap
	$(PY)/pytest -m "not e2e" $(PYTEST_ARGS) || [ $$? -eq 5 ]
	$(PY)/pytest -m e2e -n 2 --dist load $(PYTEST_ARGS) || [ $$? -eq 5 ]

format: bootstrap
	$(PY)/ruff check --fix src tests benchmarks scripts
	$(PY)/ruff format src tests benchmarks scripts

## Benchmarks print figures; they are not part of the test suite.
bench: bootstrap
	for script in benchmarks/*.py; do $(PY)/python $$script || exit 1; done
