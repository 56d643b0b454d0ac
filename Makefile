# The two commands a new user needs (see README.md). Extra app arguments: make run ARGS="--model PATH"
VENV ?= .venv
ARGS ?=

.PHONY: run test test-quick lint bench bundle

run:
	scripts/setup app
	$(VENV)/bin/desktop-assistant $(ARGS)

test:
	scripts/setup test
	QT_QPA_PLATFORM=offscreen $(VENV)/bin/python -m pytest

# The same without the tests marked slow (those that start the app in a new process).
test-quick:
	scripts/setup test
	QT_QPA_PLATFORM=offscreen $(VENV)/bin/python -m pytest -m "not slow"

lint:
	scripts/setup test
	$(VENV)/bin/ruff check desktop_assistant tests
	$(VENV)/bin/mypy

bench:
	scripts/setup app
	$(VENV)/bin/desktop-assistant bench startup

# A one-folder bundle that runs with no Python or venv: dist/desktop-assistant/ (see README).
bundle:
	scripts/setup app
	$(VENV)/bin/python -m pip install -q --disable-pip-version-check "pyinstaller>=6.10"
	$(VENV)/bin/pyinstaller --noconfirm --clean packaging/desktop-assistant.spec
	@du -sh dist/desktop-assistant
