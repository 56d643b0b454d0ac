# The two commands a new user needs (see README.md). Extra app arguments: make run ARGS="--model PATH"
VENV ?= .venv
ARGS ?=

.PHONY: run test lint bench

run:
	scripts/setup app
	$(VENV)/bin/desktop-assistant $(ARGS)

test:
	scripts/setup test
	QT_QPA_PLATFORM=offscreen $(VENV)/bin/python -m pytest

lint:
	scripts/setup test
	$(VENV)/bin/ruff check desktop_assistant tests
	$(VENV)/bin/mypy

bench:
	scripts/setup app
	$(VENV)/bin/desktop-assistant bench startup
