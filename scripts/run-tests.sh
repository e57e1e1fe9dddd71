#!/usr/bin/env bash
# The test lanes, with line coverage (agents, hubs and brokers started as processes are measured
# too; the floor is `fail_under` in pyproject.toml):
#   run-tests.sh          `make test`: ruff check + format check, mypy, then every test but the
#                         `long` ones, with the coverage floor;
#   run-tests.sh --long   `make test-long`: the `long` tests (minutes of deliberate wall time:
#                         durability windows, API fuzzing; and the heaviest artefact builds,
#                         which kept `make test` over 15 minutes on a slow day). CI runs both
#                         lanes (.ci/run);
#   run-tests.sh ARGS...  pytest ARGS: a part of the suite, coverage reported without a floor.
# pytest's exit 5 ("no tests collected") is a failure here: a suite that silently ran nothing
# must never look green.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin

args=("$@")
floor=(--cov-fail-under=0)  # the floor is for the whole `make test` lane only
if [[ $# -eq 0 ]]; then
  "$BIN/ruff" check . || exit 1
  "$BIN/ruff" format --check . || exit 1
  "$BIN/mypy" || exit 1
  args=(-m "not long")
  floor=()
elif [[ $1 == --long ]]; then
  args=(-m long "${@:2}")
fi
rm -rf var/coverage
"$BIN/pytest" --cov --cov-report=term:skip-covered "${floor[@]}" "${args[@]}"
rc=$?
if [[ $rc -eq 5 ]]; then echo "run-tests: pytest collected no tests - failing" >&2; exit 1; fi
exit $rc
