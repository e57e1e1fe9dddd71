"""Shared test set-up. Fixture plugins live in tests/fixtures/, one module per real component."""

import json
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


HEAVY_CLOUD_MODELS = ("voice-command-whisper",)
"""Loaded at every hub's start (the warm-up) and 148 MB each time: a hub a test starts in
process, or as a process that inherits the environment, serves the other defaults; the tests of
this model ask for it by name (tests/models/test_whisper_intent.py, the voice-command e2e)."""


@pytest.fixture(scope="session", autouse=True)
def _hubs_without_the_heaviest_models() -> Iterator[None]:
    from cloud_hub.core.config import Settings

    light = [
        m for m in Settings.model_fields["cloud_models"].default if m not in HEAVY_CLOUD_MODELS
    ]
    with pytest.MonkeyPatch.context() as patch:
        if "EDGEFLEET_CLOUD_MODELS" not in os.environ:
            patch.setenv("EDGEFLEET_CLOUD_MODELS", json.dumps(light))
        yield
