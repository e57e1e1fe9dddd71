#!/usr/bin/env bash
# Lint, format check, type-check, then the whole test suite with line coverage (agents, hubs and
# brokers started as processes are measured too; the floor is `fail_under` in pyproject.toml).
# pytest's exit 5 ("no tests collected") is a failure here: a suite that silently ran nothing
# must never look green.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin

"$BIN/ruff" check . || exit 1
"$BIN/ruff" format --check . || exit 1
"$BIN/mypy" || exit 1
rm -rf var/coverage
floor=()  # the coverage floor is for the whole suite; a run of a part of it only reports
if [[ $# -gt 0 ]]; then floor=(--cov-fail-under=0); fi
"$BIN/pytest" --cov --cov-report=term:skip-covered "${floor[@]}" "$@"
rc=$?
if [[ $rc -eq 5 ]]; then echo "run-tests: pytest collected no tests - failing" >&2; exit 1; fi
exit $rc
