"""`POST /devices/{id}/commands/{name}` checks a contract command's args before anything else:
422 `bad_args` naming the field; other names go out as given (no broker here: 503 after)."""

from typing import Any

import pytest

from tests.contract.samples import FL_TRAIN
from tests.hub.conftest import Hub

URL = "/api/v1/devices/cam-3/commands/{}"
GOOD_TRAIN = FL_TRAIN.model_dump(mode="json")


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("fl-train", {**GOOD_TRAIN, "epochs": "two"}, "epochs: Input should be a valid integer"),
        ("fl-train", {"round_id": 1}, "model: Field required"),
        ("model-update", {"manifest": "v2", "url": "/x"}, "manifest: Input should be"),
        ("logs", {"lines": 0}, "lines: Input should be greater than or equal to 1"),
        (
            "agent-update",
            {"release": {"version": "1"}, "url": "/x"},
            "release.arch: Field required",
        ),
    ],
)
async def test_wrong_args_of_a_contract_command_are_422_bad_args(
    hub: Hub, name: str, args: dict[str, Any], message: str
) -> None:
    await hub.enroll("cam-3")
    r = await hub.client.post(URL.format(name), headers=hub.admin, json={"args": args})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "bad_args"
    assert error["message"].startswith(f"bad `{name}` args: ")
    assert message in error["message"]


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("fl-train", GOOD_TRAIN),
        ("ping", {"extra": 1}),
        ("restart", {}),
        ("logs", {"lines": 50}),
        ("reboot", {"x": "y"}),
        ("my-own-command", {"anything": [1, 2]}),
    ],
)
async def test_fitting_args_and_other_names_pass_the_check(
    hub: Hub, name: str, args: dict[str, Any]
) -> None:
    await hub.enroll("cam-3")
    r = await hub.client.post(URL.format(name), headers=hub.admin, json={"args": args})
    assert (r.status_code, r.json()["error"]["code"]) == (503, "mqtt_disabled")
