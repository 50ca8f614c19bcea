# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
APP := $(BIN)/flask --app run

.PHONY: run test demo bench install install-dev translations extract-messages lint format clean agent

run: install translations
	$(BIN)/python -m app.launcher start

# The downloadable desktop Agent (one zipapp file, served by the «Агент» page); `make run` and
# `flask crm init` build it at every start, so the server always offers the Agent of its code.
agent: install
	$(BIN)/python -m agent.build $(or $(INSTANCE_DIR),instance)/agent/zaptrade-agent.pyz

# A small believable client base for a first look (run before or while `make run` is up).
demo: install translations
	$(APP) crm demo --orgs $(or $(ORGS),200)

# The scale benchmark (README, "Speed at scale"): PostgreSQL and Redis of your own, see BENCH_ARGS.
bench: install-dev translations
	$(BIN)/python bench/run.py $(BENCH_ARGS)

test: install-dev translations
	$(BIN)/pytest $(PYTEST_ARGS)

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

$(VENV)/.installed: requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

# Compiled catalogues are build output: made from the .po files on every install.
translations: $(patsubst %.po,%.mo,$(wildcard translations/*/LC_MESSAGES/messages.po))

translations/%/LC_MESSAGES/messages.mo: translations/%/LC_MESSAGES/messages.po $(VENV)/.installed
	$(BIN)/pybabel compile --use-fuzzy -i $< -o $@

extract-messages: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location -o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) instance/*.db
