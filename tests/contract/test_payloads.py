"""Payload models: encode/decode round-trips, RFC 3339 `Z` timestamps, readable errors."""

import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import BaseModel

from contract import Command, ContractError, ErrorCode, Health, Status, decode, encode
from tests.contract.samples import SAMPLES

RFC3339_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_encode_decode_round_trip(message: BaseModel) -> None:
    payload = encode(message)

    assert decode(type(message), payload) == message
    assert encode(decode(type(message), payload)) == payload


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_payload_is_a_utf8_json_object(message: BaseModel) -> None:
    document = json.loads(encode(message).decode("utf-8"))
    assert isinstance(document, dict)
    assert None not in document.values()  # absent, not null


@pytest.mark.parametrize("message", [m for m in SAMPLES if "ts" in type(m).model_fields])
def test_ts_is_rfc3339_utc_with_z(message: BaseModel) -> None:
    assert RFC3339_Z.fullmatch(json.loads(encode(message))["ts"])


def test_default_ts_is_now_in_utc() -> None:
    before = datetime.now(UTC)
    status = Status(state="online", agent_version="1")
    assert before - timedelta(seconds=1) <= status.ts <= datetime.now(UTC)
    assert RFC3339_Z.fullmatch(json.loads(encode(status))["ts"])


@pytest.mark.parametrize(
    ("sent", "received"),
    [
        ("2025-03-01T12:00:00Z", "2025-03-01T12:00:00.000Z"),
        ("2025-03-01T12:00:00.123456Z", "2025-03-01T12:00:00.123Z"),
        ("2025-03-01T13:30:00+01:30", "2025-03-01T12:00:00.000Z"),
        ("2025-03-01T12:00:00", "2025-03-01T12:00:00.000Z"),  # naive: read as UTC
    ],
)
def test_ts_from_other_senders_is_normalised_to_utc(sent: str, received: str) -> None:
    status = decode(Status, json.dumps({"state": "online", "agent_version": "1", "ts": sent}))
    assert status.ts.utcoffset() == timedelta(0)
    assert json.loads(encode(status))["ts"] == received


def test_aware_ts_in_python_is_converted_to_utc() -> None:
    local = datetime(2025, 3, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert json.loads(encode(Status(state="online", agent_version="1", ts=local)))["ts"] == (
        "2025-03-01T12:00:00.000Z"
    )


def test_unknown_fields_are_ignored_so_the_contract_can_grow() -> None:
    status = decode(Status, b'{"state": "offline", "agent_version": "1", "future": 1}')
    assert status.state == "offline"


@pytest.mark.parametrize(
    ("cls", "payload", "reason"),
    [
        (Status, b"not json", "invalid Status payload"),
        (Status, b"[]", "invalid Status payload"),
        (Status, b'{"state": "sleeping", "agent_version": "1"}', "state:"),
        (Status, b'{"state": "online"}', "agent_version: Field required"),
        (Health, b'{"cpu": 1.5, "mem": 0, "queue_depth": 0, "uptime_s": 0, "seq": 0}', "cpu:"),
        (Health, b'{"cpu": 0, "mem": 0, "queue_depth": -1, "uptime_s": 0, "seq": 0}',
         "queue_depth:"),
        (Status, b'{"state": "online", "agent_version": "1", "ts": "yesterday"}', "ts:"),
        # in range as written, out of range in UTC: once an OverflowError, not a ContractError
        (Command, b'{"cmd_id": "x", "ts": "0001-01-01T00:00:00+14:00"}', "ts: Value error"),
        (Command, b'{"cmd_id": "x", "ts": "9999-12-31T23:59:59-14:00"}', "out of range in UTC"),
    ],
)  # fmt: skip
def test_bad_payloads_raise_contract_error(
    cls: type[BaseModel], payload: bytes, reason: str
) -> None:
    with pytest.raises(ContractError, match=re.escape(reason)):
        decode(cls, payload)


def test_error_codes_are_stable_strings() -> None:
    assert {c.value for c in ErrorCode} >= {"bad_topic", "unknown_model", "too_large", "bad_image"}
