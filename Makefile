# RunnerHub: `make run` serves on PORT (8080) with a local Redis; `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN := .run
PORT ?= 8080
REDIS_PORT ?= 6390
REDIS_URL ?= redis://127.0.0.1:$(REDIS_PORT)/0
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test test-postgres deps redis-server redis-sentinel postgresql browser screenshots

deps: $(BIN)/.installed

$(BIN)/.installed: requirements.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
	touch $@

# Debian's redis-server, installed when missing.
redis-server:
	@command -v redis-server >/dev/null || { \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }

# Debian's redis-sentinel, for the failover test (tests/test_sentinel.py), installed when missing.
redis-sentinel:
	@command -v redis-sentinel >/dev/null || { \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-sentinel >/dev/null; }

# Debian's PostgreSQL server, installed when missing; tests/with_postgres.sh runs a private,
# throwaway cluster of it for `make test-postgres`.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

# Debian's chromium, for the browser tests and the screenshots, installed when missing.
# Playwright drives it; it never downloads a browser of its own.
browser:
	@test -x /usr/bin/chromium || { \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null; }

run: deps redis-server
	@mkdir -p $(RUN)
	@$(BIN)/python -c "import redis; redis.Redis.from_url('$(REDIS_URL)').ping()" 2>/dev/null || \
		redis-server --port $(REDIS_PORT) --bind 127.0.0.1 --dir $(CURDIR)/$(RUN) \
			--appendonly yes --daemonize yes --pidfile $(CURDIR)/$(RUN)/redis.pid \
			--logfile $(CURDIR)/$(RUN)/redis.log
	@test -s $(RUN)/webhook-secret || \
		$(BIN)/python -c "import secrets; print(secrets.token_hex(24))" > $(RUN)/webhook-secret
	@export DEBUG=$${DEBUG:-1} REDIS_URL=$(REDIS_URL) PORT=$(PORT) \
		BIND_HOST=$${BIND_HOST:-127.0.0.1} \
		GITHUB_WEBHOOK_SECRET=$${GITHUB_WEBHOOK_SECRET:-$$(cat $(RUN)/webhook-secret)}; \
	$(BIN)/python manage.py migrate --noinput -v0 && \
	$(BIN)/python manage.py collectstatic --noinput -v0 && \
	echo "RunnerHub on http://127.0.0.1:$(PORT)/  Redis $(REDIS_URL)" && \
	echo "Development webhook secret: $$GITHUB_WEBHOOK_SECRET" && \
	exec $(BIN)/gunicorn runnerhub.wsgi

test: deps redis-server redis-sentinel browser
	$(BIN)/pytest $(PYTEST_ARGS)

# The tests that touch a database (marked `database`), again on PostgreSQL, migrations included.
test-postgres: deps redis-server postgresql browser
	tests/with_postgres.sh $(BIN)/pytest -m database $(PYTEST_ARGS)

# The screenshots in docs/, taken with headless Chromium against gunicorn with DEBUG off.
screenshots: deps redis-server browser
	$(BIN)/python -m docs.admin_screenshots
	$(BIN)/python -m docs.reports_screenshots
