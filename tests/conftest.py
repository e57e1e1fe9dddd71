"""Shared test set-up. Fixture plugins live in tests/fixtures/, one module per real component."""

pytest_plugins = [
    "tests.fixtures.ports",
    "tests.fixtures.brokers",
    "tests.fixtures.postgres",
]
