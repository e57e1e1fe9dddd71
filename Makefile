# The two commands a user needs: `make demo` and `make test`. Each does its own set-up.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint bench clean
setup:
	@scripts/bootstrap.sh

demo: setup
	$(BIN)/edgefleet demo

test: setup
	@scripts/run-tests.sh

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

bench: setup
	$(BIN)/edgefleet bench edge

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache var/
