"""Lessons: the hub's answers to escalated readings become the device's training set."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from edge_agent.config import parse_config
from edge_agent.federated import FederatedClient
from edge_agent.lessons import Lessons
from models.datasets.engine import engine_profile, generate_records, to_features

MODEL = "engine-fault"


def readings(n: int) -> list[dict[str, object]]:
    records = generate_records(engine_profile(0, seed=5), n)
    return [{k: v for k, v in r.items() if k != "fault_status"} for r in records]


def test_lessons_keep_the_hubs_label_for_the_trainable_model_only() -> None:
    lessons = Lessons(MODEL, keep=10)
    r = readings(3)
    lessons.learn(MODEL, json.dumps(r[0]).encode(), {"label": 2, "label_name": "x"})
    lessons.learn("face-detect-lite", json.dumps(r[1]).encode(), {"label": 1})  # other model
    lessons.learn(MODEL, json.dumps(r[1]).encode(), {"faces": []})  # no class label
    lessons.learn(MODEL, json.dumps(r[1]).encode(), {"label": True})  # not a class number
    lessons.learn(MODEL, b'{"rpm": "fast"}', {"label": 1})  # not a reading
    x, y, _ = lessons.arrays()
    assert y.tolist() == [2]
    np.testing.assert_array_equal(x, to_features([r[0]]))
    assert (len(lessons), lessons.learned) == (1, 1)


def test_an_operators_label_replaces_the_hubs_for_that_input_only() -> None:
    """Labels come by the SHA-256 of the input's bytes (how the hub stores a hard sample); a
    class the model does not have is ignored, an input the device no longer holds is none of
    its business."""
    lessons = Lessons(MODEL, keep=10)
    payloads = [json.dumps(r).encode() for r in readings(4)]
    for payload, hub_says in zip(payloads, (0, 1, 2, 3), strict=True):
        lessons.learn(MODEL, payload, {"label": hub_says})
    sha = [hashlib.sha256(p).hexdigest() for p in payloads]
    labels = {sha[0]: 3, sha[1]: 1, sha[2]: 9, "f" * 64: 2}  # changed, same, no such class, gone
    x, y, corrected = lessons.arrays(labels)
    assert (y.tolist(), corrected) == ([3, 1, 2, 3], 1)
    np.testing.assert_array_equal(x, lessons.arrays().x)
    assert lessons.arrays().y.tolist() == [0, 1, 2, 3]  # the lessons themselves keep the hub's


def test_lessons_are_bounded_newest_kept() -> None:
    lessons = Lessons(MODEL, keep=4)
    r = readings(6)
    for i, reading in enumerate(r):
        lessons.learn(MODEL, json.dumps(reading).encode(), {"label": i % 4})
    x, y, _ = lessons.arrays()
    assert y.tolist() == [2, 3, 0, 1]
    np.testing.assert_array_equal(x, to_features(r[2:]))
    assert (x.shape, x.dtype, y.dtype, lessons.learned) == ((4, 11), np.float32, np.int64, 6)


def client(tmp_path: Path, training_data: str) -> FederatedClient:
    config = parse_config(
        {
            "device_id": "engine-00",
            "models": [MODEL],
            "model_dir": str(tmp_path),
            "federated": {"enabled": True, "training_data": training_data, "records": 50},
        }
    )
    return FederatedClient(config)


def test_a_device_trains_on_what_the_hub_labelled_and_says_when_it_has_nothing(
    tmp_path: Path,
) -> None:
    c = client(tmp_path, "escalated")
    assert c.lessons is not None
    with pytest.raises(RuntimeError, match="no reading of this device has been labelled"):
        c.training_set()
    c.lessons.learn(MODEL, json.dumps(readings(1)[0]).encode(), {"label": 3})
    assert c.training_set()[1].tolist() == [3]


def test_the_simulated_engine_trains_on_its_partition(tmp_path: Path) -> None:
    c = client(tmp_path, "partition")
    x, y, corrected = c.training_set({"0" * 64: 1})
    assert (c.lessons, x.shape, len(y), corrected) == (None, (50, 11), 50, 0)


def test_escalated_is_the_default() -> None:
    config = parse_config({"device_id": "d", "models": [MODEL]})
    assert config.federated.training_data == "escalated"
