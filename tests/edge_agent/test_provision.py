"""edgefleet provision: the hub's enrollment answer, read with the contract's model."""

import json

import pytest

from contract import Enrollment
from edge_agent.provision import (
    ProvisionError,
    check_hub_url,
    merge_enrollment,
    parse_enrollment,
)

ANSWER = {
    "device_id": "cam-1",
    "device_secret": "s3cret",
    "hub_url": "http://hub:8000/",
    "mqtt": {"host": "broker", "port": 1883, "username": "cam-1", "topic_prefix": "site/v1"},
    "device": {"id": "cam-1", "tags": []},  # the hub's record: more than the contract, ignored
}


def test_the_answer_is_read_into_the_contract_model() -> None:
    result = parse_enrollment(json.dumps(ANSWER), "http://hub:8000")
    assert isinstance(result, Enrollment)
    assert (result.device_id, result.hub_url) == ("cam-1", "http://hub:8000")
    assert (result.mqtt.host, result.mqtt.port, result.mqtt.topic_prefix) == (
        "broker",
        1883,
        "site/v1",
    )


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ({k: v for k, v in ANSWER.items() if k != "mqtt"}, "mqtt: Field required"),
        ({**ANSWER, "device_id": "Cam 1"}, "device_id: String should match pattern"),
        ({**ANSWER, "mqtt": {**ANSWER["mqtt"], "port": "x"}}, "mqtt.port"),  # type: ignore[dict-item]
    ],
)
def test_an_unexpected_answer_says_what_is_wrong(answer: dict[str, object], problem: str) -> None:
    with pytest.raises(ProvisionError, match="unexpected enrollment answer") as info:
        parse_enrollment(json.dumps(answer), "http://hub:8000")
    assert problem in str(info.value)


def test_the_config_gets_the_credentials_and_loses_the_token() -> None:
    result = parse_enrollment(json.dumps(ANSWER), "http://hub:8000")
    data = {"hub": {"url": "http://old", "enrollment_token": "eft_x"}, "models": ["m"]}
    out = merge_enrollment(data, result)
    assert out["device_id"] == "cam-1"
    assert out["topic_prefix"] == "site/v1"
    assert out["broker"] == {
        "host": "broker",
        "port": 1883,
        "username": "cam-1",
        "password": "s3cret",
    }
    assert out["hub"] == {"url": "http://hub:8000"}


@pytest.mark.parametrize("url", ["http://hub:8000", "http://hub:8000/", "http://hub:8000/api/v1"])
def test_a_hub_url_is_taken_without_the_api_prefix(url: str) -> None:
    assert check_hub_url(url) == "http://hub:8000"


def test_the_hubs_signing_key_is_pinned_once_and_a_pinned_key_is_kept() -> None:
    result = parse_enrollment(json.dumps({**ANSWER, "signing_key": "a2V5"}), "http://hub:8000")
    assert merge_enrollment({}, result)["model_sync"] == {"public_key": "a2V5"}
    pinned = {"model_sync": {"public_key": "b3duZXI=", "max_artifact_bytes": 10}}
    assert merge_enrollment(pinned, result)["model_sync"] == pinned["model_sync"]
    old_hub = parse_enrollment(json.dumps(ANSWER), "http://hub:8000")  # no key in its answer
    assert "model_sync" not in merge_enrollment({}, old_hub)
