"""The e2e contract checker (tests/fixtures/contract.py) must be able to fail."""

from contract import Health, InferResult, Status, Topics, encode
from tests.fixtures.contract import contract_violations
from tests.fixtures.mqtt import Received

T = Topics()


def _msg(topic: str, payload: bytes) -> Received:
    return Received(topic, payload, 1, False)


def test_valid_messages_pass() -> None:
    face = {"faces": [{"box": [1, 2, 3, 4], "score": 0.9, "keypoints": []}], "image_size": [8, 8]}
    messages = [
        _msg(T.status("d1"), encode(Status(state="online", agent_version="1", models=[]))),
        _msg(T.health("d1"), encode(Health(cpu=0.1, mem=0.2, queue_depth=0, uptime_s=1, seq=1))),
        _msg(
            T.result("d1", "face-detect-lite", "r1"),
            encode(
                InferResult(
                    model="face-detect-lite",
                    model_version="1",
                    where="edge",
                    latency_ms=1.0,
                    output=face,
                    msg_id="m1",
                )
            ),
        ),
        _msg(T.infer("d1", "face-detect-lite"), b"\xff\xd8 raw jpeg, not JSON"),
    ]
    assert contract_violations(messages) == []


def test_each_kind_of_breach_is_reported() -> None:
    bad_output = InferResult(
        model="face-detect-lite",
        model_version="1",
        where="edge",
        latency_ms=1.0,
        output={"faces": "none"},
        msg_id="m1",
    )
    messages = [
        _msg(
            T.status("d1"),
            b'{"state": "asleep", "agent_version": "1", "ts": "2026-01-01T00:00:00Z"}',
        ),
        _msg(T.health("d1"), b"not json"),
        _msg(T.result("d1", "face-detect-lite"), encode(bad_output)),
    ]
    problems = contract_violations(messages)
    assert "asleep" in problems[0]
    assert "not JSON" in problems[1]
    assert {p.split(":")[0] for p in problems[2:]} == {
        f"{T.result('d1', 'face-detect-lite')} output"
    }
    assert len(problems) == 4, problems  # output: faces not an array, image_size missing
