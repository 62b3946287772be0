# The two commands of the README: `make run` and `make test`. Both set up .venv first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup run test bench lint messages clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[postgres,redis,pkcs11,test]'
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/docsign init --demo
	$(BIN)/docsign run

# Two passes: everything that can share the machine on two pytest-xdist workers, then the tests marked
# serial (they restart the shared brokers or bound wall-clock time) alone.
test: setup
	$(BIN)/python -m pytest --ignore=tests/bench -n 2 -m "not serial" $(PYTEST_ARGS)
	$(BIN)/python -m pytest --ignore=tests/bench -m serial $(PYTEST_ARGS)

bench: setup
	$(BIN)/python -m pytest tests/bench -s -p no:cacheprovider $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .

# After changing texts: collect every msgid (babel.cfg) into a template, add the new ones to each language's
# .po (translations kept; none guessed from similar texts), then compile the .mo files.
messages: setup
	$(BIN)/pybabel -q extract -F babel.cfg --sort-by-file -o $(VENV)/messages.pot .
	$(BIN)/pybabel -q update -i $(VENV)/messages.pot -d docsign/translations --no-fuzzy-matching --ignore-obsolete --width 120
	$(BIN)/pybabel compile -d docsign/translations --statistics

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
