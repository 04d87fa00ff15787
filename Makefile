# Waybill: `make run` serves the demo; `make test` runs the whole suite. Both start from nothing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 5000

.PHONY: install run test bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

install: $(BIN)/.installed node_modules/.package-lock.json

run: install
	$(BIN)/flask --app wsgi demo --if-empty
	$(BIN)/flask --app wsgi serve --port $(PORT)

#: Extra pytest arguments, e.g. PYTEST_ARGS=--clock=+95d to run the suite with the clock moved.
PYTEST_ARGS ?=

test: install
	$(BIN)/pytest -q $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) node_modules instance/waybill.db* .pytest_cache
