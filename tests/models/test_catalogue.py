"""The catalogue validates, lists the real models and refuses malformed entries."""

import pytest

from models.catalogue import CATALOGUE_PATH, Catalogue, offload_target, parse_catalogue
from models.errors import CatalogueError, UnknownModelError


def test_catalogue_lists_the_real_models(catalogue: Catalogue) -> None:
    assert catalogue.ids == [
        "face-detect-lite",
        "face-detect-full",
        "face-detect-cloud",
        "wakeword-lite",
        "wakeword-full",
        "wakeword-cloud",
        "engine-fault",
        "engine-fault-cloud",
        "voice-command",
        "voice-command-whisper",
    ]
    assert {catalogue.get(m).task for m in catalogue.ids} == {
        "face-detection",
        "wakeword",
        "tabular",
        "intent",
    }
    assert catalogue.get("engine-fault").source == "built"
    lite = catalogue.get("wakeword-lite")
    assert [f.name for f in lite.files if f.name.endswith(".json")] == [
        "okay_nabu.json",
        "alexa.json",
        "hey_mycroft.json",
    ]
    full = catalogue.get("wakeword-full")
    assert full.labels == ["okay_nabu", "alexa", "hey_mycroft"]
    assert "CC-BY-NC-SA-4.0" in full.licence
    assert (
        catalogue.get("face-detect-lite").file("face_detection_short_range.tflite").size == 229032
    )
    cloud = catalogue.get("face-detect-cloud")
    assert (cloud.source, cloud.tier, cloud.files) == ("ensemble", "cloud", [])
    assert [s.id for s in catalogue.with_members(cloud)] == [
        "face-detect-cloud",
        "face-detect-full",
        "face-detect-lite",
    ]
    verifier = catalogue.get("wakeword-cloud")  # a head trained here over wakeword-full
    assert (verifier.source, verifier.tier, verifier.members) == (
        "built",
        "cloud",
        ["wakeword-full"],
    )
    assert verifier.labels == full.labels


def test_offloads_go_to_the_strongest_hub_model(catalogue: Catalogue) -> None:
    assert offload_target("face-detect-lite", catalogue) == "face-detect-cloud"
    assert offload_target("engine-fault", catalogue) == "engine-fault-cloud"
    assert offload_target("wakeword-lite", catalogue) == "wakeword-cloud"
    assert offload_target("my-own-lite", catalogue) == "my-own-full"  # not in the catalogue


def test_every_file_is_pinned(catalogue: Catalogue) -> None:
    for spec in catalogue.models:
        for f in spec.files:
            assert f.package_version.count(".") == 2, f
            assert len(f.sha256) == 64


def test_unknown_model_names_the_known_ones(catalogue: Catalogue) -> None:
    with pytest.raises(UnknownModelError, match="face-detect-lite"):
        catalogue.get("nope")
    assert "nope" not in catalogue


GOOD = CATALOGUE_PATH.read_text()


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (GOOD.replace('id = "face-detect-full"', 'id = "face-detect-lite"'), "duplicate model ids"),
        (
            GOOD.replace(
                "3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633", "3bc1"
            ),
            "sha256",
        ),
        (GOOD.replace('task = "wakeword"', 'task = "telepathy"', 1), "task"),
        (GOOD.replace('runtime = "litert"', 'runtme = "litert"', 1), "runtme"),
        (GOOD + "\n[[models", "not valid TOML"),
        (GOOD.replace('members = ["face-detect-full"', 'members = ["face-detect-huge"'), "unknown"),
        (GOOD.replace('offload_to = "face-detect-cloud"', 'offload_to = "nope"'), "unknown"),
        (GOOD.replace('source = "ensemble"\n', ""), "ensemble"),
        (GOOD.replace('builder = "models.training.wake_verifier:build"\n', ""), "builder"),
        (
            GOOD.replace('offload_to = "wakeword-cloud"', 'members = ["wakeword-full"]'),
            "only ensemble and built models have `members`",
        ),
    ],
)
def test_malformed_catalogue_is_refused(broken: str, message: str) -> None:
    with pytest.raises(CatalogueError, match=message):
        parse_catalogue(broken)
