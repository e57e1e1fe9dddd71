# The two commands a user needs: `make demo` and `make test`. Each does its own set-up.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test test-long lint audit bench clean
setup:
	@scripts/bootstrap.sh

demo: setup
	$(BIN)/edgefleet demo

test: setup
	@scripts/run-tests.sh

# The tests that run for minutes on purpose (hub down 60 s, five broker kills, API fuzzing on
# both databases). CI runs this lane after `make test` (.ci/run).
test-long: setup
	@scripts/run-tests.sh --long

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

# Known vulnerabilities in the pinned set (constraints.txt), from PyPI's advisory data. Not part
# of `make test`: the advisory source must be reachable (docs/testing.md). --strict fails when
# a package could not be checked, so an unreachable source is a failure, not a silent pass.
audit:
	@test -x var/audit-venv/bin/pip-audit || (python3 -m venv var/audit-venv && \
		var/audit-venv/bin/pip install -q -c constraints.txt pip-audit)
	var/audit-venv/bin/pip-audit --strict --no-deps --disable-pip -r constraints.txt

bench: setup
	$(BIN)/edgefleet bench edge

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache var/
