# Two commands do all set-up on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test lint typecheck contracts pytest docs compat-029 wheel-check bench soak clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[demo]' --group dev --group docs
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m aio_request demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

contracts: $(STAMP)
	$(BIN)/lint-imports --no-cache

pytest: $(STAMP)
	$(BIN)/pytest -q

test: lint typecheck contracts pytest

# The documentation site (mkdocs-material, API reference from the docstrings) in site/; --strict
# turns every broken link or reference into an error.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# The built wheel in a fresh virtualenv with only its aiohttp extra: the README's examples run
# and introspection works without httpx. Not part of `make test` (it builds and installs).
WHEEL_DIR ?= /tmp/aio-request-ng-wheel-check
wheel-check: $(STAMP)
	rm -rf $(WHEEL_DIR)
	$(BIN)/python -m pip wheel --quiet --no-deps -w $(WHEEL_DIR)/dist .
	$(PYTHON) -m venv $(WHEEL_DIR)/venv
	$(WHEEL_DIR)/venv/bin/python -m pip install --quiet "$$(ls $(WHEEL_DIR)/dist/*.whl)[aiohttp]"
	$(WHEEL_DIR)/venv/bin/python tests/docs/check_wheel.py

# aio-request 0.2.9's own test suite, from its sdist, run against this package (outside the
# repository, in a virtualenv of its own: its plugins stay out of ours). Not part of `make test`.
COMPAT_DIR ?= /tmp/aio-request-0.2.9-suite
compat-029:
	rm -rf $(COMPAT_DIR) && mkdir -p $(COMPAT_DIR)
	$(PYTHON) -m venv $(COMPAT_DIR)/venv
	$(COMPAT_DIR)/venv/bin/python -m pip install --quiet -e '.[aiohttp,httpx,prometheus]' \
		pytest pytest-asyncio pytest-aiohttp pytest-httpbin pytest-timeout tdigest
	$(COMPAT_DIR)/venv/bin/python -m pip download --quiet --no-deps --no-binary :all: \
		aio-request==0.2.9 -d $(COMPAT_DIR)
	tar xzf $(COMPAT_DIR)/aio_request-0.2.9.tar.gz -C $(COMPAT_DIR)
	cd $(COMPAT_DIR)/aio_request-0.2.9 && rm -rf aio_request && \
		../venv/bin/python -m pytest -p no:cacheprovider -q -o asyncio_mode=auto \
		-o asyncio_default_fixture_loop_scope=function tests || true

BENCH_STAMP := $(VENV)/.bench-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[demo]' --group dev --group bench
	rm -f $(VENV)/.bench-*
	touch $(BENCH_STAMP)

# The peers comparison (raw aiohttp, aiohttp-retry, backoff, tenacity), then the library's own cost.
bench: $(BENCH_STAMP)
	$(BIN)/python benchmarks/peers.py --httpx
	$(BIN)/python benchmarks/client_overhead.py

# Long: 100,000 hedged requests against a flaky server (a few minutes); not part of `make test`.
soak: $(STAMP)
	$(BIN)/python benchmarks/soak.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .import_linter_cache site
