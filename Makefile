# Waybill: `make run` serves the demo; `make test` runs the whole suite. Both start from nothing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 5000

.PHONY: install run production test bench clean chromium messages

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

#: The production stack under supervisord (gunicorn, relays, dramatiq workers; restarted when
#: they stop): DATABASE_URL and REDIS_URL must be set. See docs/OPERATIONS.md.
production: install
	deploy/production

#: Extra pytest arguments, e.g. PYTEST_ARGS=--clock=+95d to run the suite with the clock moved.
PYTEST_ARGS ?=

#: Browser tests drive Debian's Chromium; installed here when the machine allows it (root
#: with apt), else the suite says which tests it skipped and how to enable them.
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get install -y -q chromium >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null 2>&1)) \
	  || echo "Chromium could not be installed here: browser tests will be skipped"; }

#: PostgreSQL and Redis join the suite whenever they answer on this machine: the database
#: `test` (the suite empties it) and Redis database 15 (flushed). Give TEST_DATABASE_URL or
#: REDIS_URL to use others, or set one empty (TEST_DATABASE_URL=) to leave it out.
TEST_DATABASE_URL ?= $(shell pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && \
  psql -h 127.0.0.1 -U postgres -d test -Atc 'select 1' >/dev/null 2>&1 && echo postgresql://postgres@127.0.0.1:5432/test)
REDIS_URL ?= $(shell redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG && echo redis://127.0.0.1:6379/15)

test: install chromium
	TEST_DATABASE_URL="$(TEST_DATABASE_URL)" REDIS_URL="$(REDIS_URL)" $(BIN)/pytest -q $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m bench

#: New English text in the code and templates added to each language's catalogue (to translate).
messages: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k N_ --no-location -o instance/messages.pot .
	$(BIN)/pybabel update -i instance/messages.pot -d app/translations --width 100 --no-fuzzy-matching

clean:
	rm -rf $(VENV) node_modules instance/waybill.db* .pytest_cache
