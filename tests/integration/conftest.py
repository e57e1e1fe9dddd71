"""Integration fixtures: the hub fixtures (SQLite / PostgreSQL) shared with tests/hub."""

from tests.hub.conftest import (  # noqa: F401  (fixtures)
    database_url,
    make_settings,
    postgres_hub_database,
    sqlite_template,
)
