"""Shared test set-up. Fixture plugins live in tests/fixtures/, one module per real component."""

import os
from collections.abc import Iterator

import pytest

pytest_plugins = [
    "tests.fixtures.ports",
    "tests.fixtures.brokers",
    "tests.fixtures.postgres",
    "tests.fixtures.agents",
]


@pytest.fixture(scope="session", autouse=True)
def _state_dir_of_this_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Agents started by any test keep their outbox and models under this run's tmp dir, never
    in ~/.local/state, where one run's unsent results would turn up in the next run's tests."""
    with pytest.MonkeyPatch.context() as patch:
        if "EDGEFLEET_STATE_DIR" not in os.environ:
            patch.setenv("EDGEFLEET_STATE_DIR", str(tmp_path_factory.mktemp("state")))
        yield
